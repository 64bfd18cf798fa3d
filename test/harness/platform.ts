import { randomBytes, randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createServiceTokenSource, type ServiceTokenSource } from "@tessera/platform/auth";
import { TENANT_DATA_ADMIN_ROLE } from "@tessera/platform/tenant-data";
import { ApiKeyService } from "@tessera/proto/tessera/identity/v1/api_keys_pb";
import { AuthService, TokenType } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { MembershipService } from "@tessera/proto/tessera/identity/v1/memberships_pb";
import { Role } from "@tessera/proto/tessera/identity/v1/resources_pb";
import { TenantService, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import pg from "pg";
import { inject } from "vitest";
import { registerSecret } from "./secrets.ts";
import { type ServiceDatabase, serviceDatabase } from "./service-database.ts";
import { type RunningService, runMain, startMain, stopMain } from "./service-process.ts";
import { type LocalCompute, localCompute, tenancyDataPlaneEnv } from "./tenancy-env.ts";

const servicesDir = new URL("../../services/", import.meta.url).pathname;

/** Services the harness can run besides identity (always there: everything needs its tokens). */
export type PlatformService = "tenancy" | "projects" | "audit";

/** A service credential seeded into identity. */
export interface TestClient {
  id: string;
  secret: string;
  roles: string[];
}

/** The platform's services running as real processes on free ports, for cross-service tests. */
export interface TestPlatform {
  identity: RunningService;
  services: Partial<Record<PlatformService, RunningService>>;
  /** Each service's pool database (identity's too), for tests that look beneath the contracts. */
  databases: Partial<Record<PlatformService | "identity", ServiceDatabase>>;
  /** identity's `iss` and JWKS URL: every service's AUTH_ISSUER / AUTH_JWKS_URL. */
  issuer: string;
  jwksUrl: string;
  natsUrl: string;
  /** Seeded credentials: `operator` (platform-admin + edge), `edge` (a gateway: edge + service), and any asked for. */
  clients: Record<string, TestClient>;
  /** Environment a gateway process needs to reach the platform with the given client's credential. */
  gatewayEnv(clientId: string): Record<string, string>;
  /** Seeds tenants, users and API keys through the public contracts. */
  seed: Seeder;
  /** With `localCompute`: tenancy's local compute driver (silo tenants' own projects processes). */
  localCompute: LocalCompute | undefined;
  /**
   * Starts a service again after it exited or was killed (tests that crash it on purpose), with the
   * same environment and port, changed by `env` (an undefined value removes a variable).
   */
  restart(service: PlatformService, env?: Record<string, string | undefined>): Promise<RunningService>;
  stop(): Promise<void>;
}

/** A tenant created through tenancy, with helpers to add people and keys to it. */
export interface TenantSeed {
  id: string;
  slug: string;
  /** Invites and signs up a user with this role; returns how to act as them. */
  user(role: "owner" | "admin" | "member" | "viewer"): Promise<UserSeed>;
  /** An API key created by the tenant's owner. */
  apiKey(role: "admin" | "member" | "viewer", scopes: string[]): Promise<ApiKeySeed>;
}

export interface UserSeed {
  userId: string;
  email: string;
  password: string;
  tenantId: string;
  /** A fresh access token (audience: the edges) from Login. */
  accessToken(): Promise<string>;
  /** An internal token for one service, as an edge would get it by exchange. */
  internalToken(audience: string): Promise<string>;
}

export interface ApiKeySeed {
  id: string;
  key: string;
  tenantId: string;
  internalToken(audience: string): Promise<string>;
}

export interface Seeder {
  /** A tenant through CreateTenant (tier pool unless given; bridge and silo come back still provisioning). */
  tenant(options?: { plan?: string; slug?: string; tier?: "pool" | "bridge" | "silo" }): Promise<TenantSeed>;
}

const roleOf = { owner: Role.OWNER, admin: Role.ADMIN, member: Role.MEMBER, viewer: Role.VIEWER } as const;

/** An interceptor sending `token()` as the Bearer credential of every call. */
export const bearer =
  (token: () => Promise<string>): Interceptor =>
  (next) =>
  async (req) => {
    req.header.set("authorization", `Bearer ${await token()}`);
    return next(req);
  };

const cheapArgon2 = { IDENTITY_ARGON2_MEMORY_KIB: "1024", IDENTITY_ARGON2_TIME_COST: "1" };

async function migrated(name: string, service: string): Promise<ServiceDatabase> {
  const db = await serviceDatabase(name);
  const migrate = runMain(
    `${servicesDir}${service}/src/migrate.ts`,
    {
      MIGRATION_DATABASE_URL: db.ownerUrl,
      DATABASE_APP_ROLE: db.roles.app,
    },
    `${service}-migrate`,
  );
  const { code } = await migrate.exited;
  if (code !== 0) throw new Error(`${service} migrate failed: ${migrate.stderr()}${migrate.stdout()}`);
  return db;
}

/**
 * Starts identity (always) and the named services as real processes, each with its own database
 * (owner + app roles) on the run's PostgreSQL and the run's NATS, identity seeded with service
 * credentials. Cheap argon2 parameters keep sign-ups fast; everything else is production config.
 */
export async function startPlatform(
  options: {
    services?: PlatformService[];
    clients?: Array<{ id: string; roles: string[] }>;
    /** Extra environment per service (e.g. tenancy's move timings). */
    env?: Partial<Record<PlatformService | "identity", Record<string, string>>>;
    /**
     * tenancy runs the `local` compute driver (needs projects and tenancy): a silo tenant gets its
     * own projects process, started as the platform's projects is.
     */
    localCompute?: boolean;
  } = {},
): Promise<TestPlatform> {
  const natsUrl = inject("natsUrl");
  const wanted = options.services ?? ["tenancy"];
  const all = ["identity", ...wanted];
  const mkClient = (id: string, roles: string[]): TestClient => ({
    id,
    roles,
    secret: registerSecret(randomBytes(24).toString("base64url")),
  });
  const clients: Record<string, TestClient> = {
    operator: mkClient("operator", ["platform-admin", "edge"]),
    // as deployed (charts, ./tessera up): a gateway exchanges (edge) and resolves tenants (service)
    edge: mkClient("edge", ["edge", "service"]),
  };
  for (const c of options.clients ?? []) clients[c.id] = mkClient(c.id, c.roles);
  for (const s of wanted) clients[s] = mkClient(s, s === "tenancy" ? ["service", TENANT_DATA_ADMIN_ROLE] : ["service"]);

  const dbs: ServiceDatabase[] = [];
  const running: RunningService[] = [];
  let compute: LocalCompute | undefined;
  const stop = async () => {
    for (const r of running.reverse()) await stopMain(r).catch(() => undefined);
    compute?.cleanUp();
    for (const db of dbs) await dropWithTenantDatabases(db).catch(() => undefined);
  };
  try {
    const identityDb = await migrated("idp", "identity");
    dbs.push(identityDb);
    const seed = runMain(
      `${servicesDir}identity/src/seed.ts`,
      {
        DATABASE_URL: identityDb.appUrl,
        IDENTITY_SEED_SERVICE_CLIENTS: JSON.stringify(
          Object.values(clients).map((c) => ({ id: c.id, secret: c.secret, audiences: all, roles: c.roles })),
        ),
        ...cheapArgon2,
      },
      "identity-seed",
    );
    if ((await seed.exited).code !== 0) throw new Error(`identity seed failed: ${seed.stderr()}`);
    const issuer = `http://identity.test-${randomUUID().slice(0, 8)}`;
    const identity = await startMain(
      `${servicesDir}identity/src/main.ts`,
      {
        PORT: "0",
        HTTP_PORT: "0",
        METRICS_PORT: "0",
        AUTH_ISSUER: issuer,
        DATABASE_URL: identityDb.appUrl,
        OUTBOX_RELAY_DATABASE_URL: identityDb.ownerUrl,
        NATS_URL: natsUrl,
        IDENTITY_KEY_ENCRYPTION_KEY: registerSecret(randomBytes(32).toString("base64")),
        IDENTITY_TENANT_CONSUMER_NAME: `identity_tenants_${randomUUID().slice(0, 8)}`,
        ...cheapArgon2,
        ...options.env?.identity,
      },
      { logName: "identity" },
    );
    running.push(identity);
    const jwksUrl = String(identity.lines().find((l) => l.msg === "jwks listening")?.url);

    const services: Partial<Record<PlatformService, RunningService>> = {};
    const serviceDbs = new Map<PlatformService, ServiceDatabase>();
    for (const s of wanted) {
      const db = await migrated(s.slice(0, 6), s);
      dbs.push(db);
      serviceDbs.set(s, db);
    }
    // tenancy starts last (it calls the tenant-data services), on a port the others already know
    const tenancyPort = wanted.includes("tenancy") ? await freePort() : 0;
    const order = [...wanted.filter((s) => s !== "tenancy"), ...wanted.filter((s) => s === "tenancy")];
    const envs = new Map<PlatformService, Record<string, string>>();
    const projectsOf = () =>
      services.projects && { service: services.projects, db: serviceDbs.get("projects") as ServiceDatabase };
    for (const s of order) {
      const db = serviceDbs.get(s) as ServiceDatabase;
      const env: Record<string, string> = {
        PORT: s === "tenancy" ? String(tenancyPort) : "0",
        METRICS_PORT: "0",
        AUTH_JWKS_URL: jwksUrl,
        AUTH_ISSUER: issuer,
        DATABASE_URL: db.appUrl,
        OUTBOX_RELAY_DATABASE_URL: db.ownerUrl,
        NATS_URL: natsUrl,
        SERVICE_CLIENT_ID: s,
        SERVICE_CLIENT_SECRET: clients[s]?.secret ?? "",
        IDENTITY_URL: identity.url,
        ...(tenancyPort > 0 && { TENANCY_URL: `http://127.0.0.1:${tenancyPort}` }),
        // the run's NATS is shared by concurrent test files: a durable of its own per platform
        ...(s === "audit" && { AUDIT_CONSUMER_NAME: `audit_${randomUUID().slice(0, 8)}` }),
        ...(s === "tenancy" && tenancyDataPlaneEnv(projectsOf(), identity.url, identityDb)),
        ...options.env?.[s],
      };
      if (s === "tenancy" && options.localCompute) {
        const projectsEnv = envs.get("projects");
        if (!projectsEnv) throw new Error("localCompute needs the projects service");
        compute = localCompute(projectsEnv);
        Object.assign(env, compute.env);
      }
      envs.set(s, env);
      const svc = await startMain(`${servicesDir}${s}/src/main.ts`, env, { logName: s });
      running.push(svc);
      services[s] = svc;
    }

    const platform: TestPlatform = {
      identity,
      services,
      databases: { identity: identityDb, ...Object.fromEntries(serviceDbs) },
      issuer,
      jwksUrl,
      natsUrl,
      clients,
      gatewayEnv: (clientId) => ({
        AUTH_JWKS_URL: jwksUrl,
        AUTH_ISSUER: issuer,
        NATS_URL: natsUrl,
        IDENTITY_URL: identity.url,
        ...Object.fromEntries(Object.entries(services).map(([name, svc]) => [`${name.toUpperCase()}_URL`, svc.url])),
        SERVICE_CLIENT_ID: clientId,
        SERVICE_CLIENT_SECRET: clients[clientId]?.secret ?? "",
      }),
      seed: createSeeder(identity.url, services.tenancy?.url, clients),
      localCompute: compute,
      async restart(service, changes = {}) {
        const before = services[service];
        const base = envs.get(service);
        if (!before || !base) throw new Error(`${service} was not started`);
        if (before.child.exitCode === null && before.child.signalCode === null) await stopMain(before);
        const env: Record<string, string> = { ...base, PORT: String(before.port) };
        for (const [k, v] of Object.entries(changes)) {
          if (v === undefined) delete env[k];
          else env[k] = v;
        }
        const again = await startMain(`${servicesDir}${service}/src/main.ts`, env, { logName: service });
        running.push(again);
        services[service] = again;
        return again;
      },
      stop,
    };
    return platform;
  } catch (err) {
    await stop();
    throw err;
  }
}

function createSeeder(
  identityUrl: string,
  tenancyUrl: string | undefined,
  clients: Record<string, TestClient>,
): Seeder {
  const operator = clients.operator as TestClient;
  let tokens: ServiceTokenSource | undefined;
  const source = () => {
    tokens ??= createServiceTokenSource({ identityUrl, clientId: operator.id, clientSecret: operator.secret });
    return tokens;
  };
  const transport = (url: string, audience: string): Transport =>
    createGrpcTransport({ baseUrl: url, interceptors: [bearer(() => source().getToken(audience))] });
  const identityT = transport(identityUrl, "identity");
  const auth = createClient(AuthService, identityT);
  const members = createClient(MembershipService, identityT);
  const opts = { timeoutMs: 15_000 };

  const login = async (email: string, password: string, tenantId: string) => {
    const res = await auth.login(
      {
        email,
        password,
        tenant: { case: "tenantId", value: tenantId },
        client: { ip: "127.0.0.1", userAgent: "test-seed" },
      },
      opts,
    );
    return res.tokens?.accessToken as string;
  };
  const exchange = async (subjectToken: string, type: TokenType, audience: string) =>
    (await auth.exchangeToken({ subjectToken, subjectTokenType: type, audience }, opts)).accessToken;

  return {
    async tenant(options = {}) {
      if (!tenancyUrl)
        throw new Error("seed.tenant() needs the tenancy service: startPlatform({ services: ['tenancy', …] })");
      const tenancy = createClient(TenantService, transport(tenancyUrl, "tenancy"));
      const slug = options.slug ?? `t-${randomBytes(5).toString("hex")}`;
      const { tenant } = await tenancy.createTenant(
        {
          requestId: randomUUID(),
          slug,
          displayName: slug,
          tier: { pool: Tier.POOL, bridge: Tier.BRIDGE, silo: Tier.SILO }[options.tier ?? "pool"],
          plan: options.plan ?? "team",
          region: "local",
        },
        opts,
      );
      if (!tenant) throw new Error("tenancy returned no tenant");
      const tenantId = tenant.id;
      let owner: UserSeed | undefined;

      const user = async (role: keyof typeof roleOf): Promise<UserSeed> => {
        const email = `${role}-${randomBytes(4).toString("hex")}@${slug}.test`;
        const password = registerSecret(`pw-${randomBytes(12).toString("base64url")}`);
        const inv = await members.createInvitation({ email, role: roleOf[role], tenantId }, opts);
        const accepted = await members.acceptInvitation({ token: inv.token, password, displayName: role }, opts);
        const userId = accepted.membership?.userId as string;
        const seedUser: UserSeed = {
          userId,
          email,
          password,
          tenantId,
          accessToken: () => login(email, password, tenantId),
          internalToken: async (audience) =>
            exchange(await login(email, password, tenantId), TokenType.ACCESS_TOKEN, audience),
        };
        return seedUser;
      };

      return {
        id: tenantId,
        slug,
        user,
        async apiKey(role, scopes) {
          owner ??= await user("owner");
          const ownerToken = await owner.internalToken("identity");
          const keys = createClient(ApiKeyService, createGrpcTransport({ baseUrl: identityUrl }));
          const created = await keys.createApiKey(
            { displayName: `key-${role}`, role: roleOf[role], scopes },
            { ...opts, headers: { authorization: `Bearer ${ownerToken}` } },
          );
          const key = registerSecret(created.secret);
          return {
            id: created.apiKey?.id as string,
            key,
            tenantId,
            internalToken: (audience) => exchange(key, TokenType.API_KEY, audience),
          };
        },
      };
    },
  };
}

/** Drops a service database and the tenants' dedicated databases made beside it. */
async function dropWithTenantDatabases(db: ServiceDatabase): Promise<void> {
  const admin = new pg.Client({ connectionString: inject("pgAdminUrl") });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ datname: string }>("select datname from pg_database where datname like $1", [
      `${db.name}\\_t\\_%`,
    ]);
    for (const r of rows) await admin.query(`DROP DATABASE IF EXISTS "${r.datname}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  await db.drop();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
