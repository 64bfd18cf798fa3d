/**
 * Starts the product slice for benchmarks without vitest: PostgreSQL + NATS (`startInfra`, or
 * DATABASE_URL / NATS_URL), one database per service with owner and app roles (as `./tessera up`
 * does), each service's migrate script, identity's seed, then identity, projects, audit, tenancy
 * (with its local data plane: dedicated databases on the same PostgreSQL, projects routed) and,
 * unless asked not to, both gateways as child processes on 127.0.0.1. Also seeds tenants through
 * the public contracts, the way the test harness (test/harness/platform.ts) does.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { startInfra } from "@tessera/dev/infra";
import { createServiceTokenSource, type ServiceTokenSource } from "@tessera/platform/auth";
import { provisionDatabase } from "@tessera/platform/db";
import { TENANT_DATA_ADMIN_ROLE } from "@tessera/platform/tenant-data";
import { ApiKeyService } from "@tessera/proto/tessera/identity/v1/api_keys_pb";
import { AuthService, TokenType } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { MembershipService } from "@tessera/proto/tessera/identity/v1/memberships_pb";
import { Role } from "@tessera/proto/tessera/identity/v1/resources_pb";
import { TenantService, TenantStatus, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import pg from "pg";

const root = new URL("../../", import.meta.url).pathname;

/** A deployable running as its own process. */
export interface BenchProcess {
  readonly name: string;
  readonly url: string;
  /** `http://127.0.0.1:<METRICS_PORT>/metrics`. */
  readonly metricsUrl: string;
  readonly child: ChildProcess;
  /** The last bytes the process wrote (stdout and stderr), for error messages. */
  tail(): string;
}

export interface BenchDatabase {
  /** The database's name (tenants' dedicated databases are `<name>_t_<hex>`). */
  readonly name: string;
  readonly ownerUrl: string;
  readonly appUrl: string;
  readonly ownerRole: string;
  readonly appRole: string;
}

export interface SeededUser {
  readonly userId: string;
  /** An internal token for `audience`, from a fresh login and exchange. */
  internalToken(audience: string): Promise<string>;
}

export interface SeededTenant {
  readonly id: string;
  user(role: "owner" | "admin" | "member" | "viewer"): Promise<SeededUser>;
  /** A `tsk_live_…` key created by the tenant's owner. */
  apiKey(role: "admin" | "member" | "viewer", scopes: string[]): Promise<string>;
}

/** The services that run as processes; the gateways are optional. */
export type BenchService = "identity" | "tenancy" | "projects" | "audit";

export interface BenchPlatform {
  readonly identity: BenchProcess;
  readonly tenancy: BenchProcess;
  /** The current projects process (a new one after {@link BenchPlatform.restart}). */
  readonly projects: BenchProcess;
  /** audit and the gateways throw when the platform was started without them. */
  readonly audit: BenchProcess;
  readonly rest: BenchProcess;
  readonly graphql: BenchProcess;
  readonly databases: Readonly<Record<BenchService, BenchDatabase>>;
  /** The superuser URL of the PostgreSQL everything runs on. */
  readonly pgAdminUrl: string;
  /** tenancy as the platform operator (MoveTenant, GetProvisioning, …). */
  readonly operatorTenancy: Client<typeof TenantService>;
  /**
   * A tenant created through tenancy by the operator (plan `enterprise` unless given, tier pool
   * unless given); resolves once the tenant is ACTIVE, i.e. after its provisioning saga (for
   * bridge: tenancy's local driver creates its dedicated databases, projects migrates them).
   */
  seedTenant(plan?: string, options?: { tier?: Tier; timeoutMs?: number }): Promise<SeededTenant>;
  /** Stops a service (SIGTERM, graceful) and starts it again on the same port with the same environment. */
  restart(service: "projects"): Promise<BenchProcess>;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (free when asked; the child binds it right after). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, resolve);
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Spawned {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  tail(): string;
  exited: Promise<number | null>;
}

/**
 * `node <main>` with exactly `env` (plus PATH). JSON log lines are parsed until `keepLines` of
 * them are found (enough to see "listening"), then only a short tail is kept, so a chatty process
 * costs the benchmark no memory. With `BENCH_LOG_DIR` set, everything the process writes is also
 * appended to `<BENCH_LOG_DIR>/<name>.log`.
 */
function spawnMain(main: string, env: Record<string, string>, name = basename(dirname(dirname(main)))): Spawned {
  const child = spawn(process.execPath, [join(root, main)], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logDir = process.env.BENCH_LOG_DIR;
  if (logDir) {
    mkdirSync(logDir, { recursive: true });
    const file = createWriteStream(join(logDir, `${name}.log`), { flags: "a" });
    child.stdout?.pipe(file, { end: false });
    child.stderr?.pipe(file, { end: false });
    child.once("exit", () => file.end());
  }
  const lines: Array<Record<string, unknown>> = [];
  let tail = "";
  let partial = "";
  let parsing = true;
  const onData = (chunk: Buffer) => {
    const text = chunk.toString();
    tail = (tail + text).slice(-4000);
    if (!parsing) return;
    partial += text;
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    for (const l of parts) {
      if (!l.startsWith("{")) continue;
      try {
        lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch {}
    }
    if (lines.length > 200) parsing = false;
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, lines, tail: () => tail, exited };
}

async function runToEnd(name: string, main: string, env: Record<string, string>): Promise<void> {
  const run = spawnMain(main, env);
  const code = await run.exited;
  if (code !== 0) throw new Error(`${name} exited with ${code}: ${run.tail()}`);
}

async function waitForLine(run: Spawned, name: string, msg: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = run.lines.find((l) => l.msg === msg);
    if (line) return line;
    if (run.child.exitCode !== null) throw new Error(`${name} exited early: ${run.tail()}`);
    if (Date.now() > deadline) throw new Error(`${name} did not log "${msg}" within ${timeoutMs} ms: ${run.tail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopChild(child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  await exited;
  clearTimeout(timer);
}

const roleOf = { owner: Role.OWNER, admin: Role.ADMIN, member: Role.MEMBER, viewer: Role.VIEWER } as const;

/** Options of {@link startBenchPlatform}. */
export interface BenchPlatformOptions {
  /** LOG_LEVEL of every process (default info: "listening" is logged at info). */
  logLevel?: string;
  /** Start the REST and GraphQL gateways (default true; they need audit). */
  gateways?: boolean;
  /** Start audit (default true). */
  audit?: boolean;
  /** Added to a service's environment (e.g. projects' TENANT_DB_MAX_OPEN, tenancy's move timings). */
  env?: Partial<Record<BenchService, Record<string, string>>>;
  restEnv?: Record<string, string>;
  graphqlEnv?: Record<string, string>;
}

/**
 * PostgreSQL and NATS for a bench (the servers of DATABASE_URL / NATS_URL when set), with its data in a
 * fresh `tessera-bench-<label>-` temp dir the caller removes.
 */
export async function startBenchInfra(label: string) {
  const dataDir = mkdtempSync(join(tmpdir(), `tessera-bench-${label}-`));
  const infra = await startInfra({
    dataDir,
    persistent: false,
    fast: true,
    externalPgUrl: process.env.DATABASE_URL,
    externalNatsUrl: process.env.NATS_URL,
  });
  return { dataDir, infra };
}

/** Starts everything; `restEnv` / `graphqlEnv` are added to the gateways' environments (limits for the bench). */
export async function startBenchPlatform(options: BenchPlatformOptions = {}): Promise<BenchPlatform> {
  const logLevel = options.logLevel ?? "info";
  const { dataDir, infra } = await startBenchInfra("slice");
  const children: ChildProcess[] = [];
  // Whatever way this process ends, no child outlives it.
  process.once("exit", () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  });
  let operatorTokens: ServiceTokenSource | undefined;
  const databases = {} as Record<BenchService, BenchDatabase>;
  const suffix = randomBytes(3).toString("hex");
  // Idempotent: a signal handler and the main flow may both ask.
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      operatorTokens?.close();
      for (const c of [...children].reverse()) await stopChild(c).catch(() => undefined);
      // on an external PostgreSQL nothing of the run stays behind: databases, tenants' databases, roles
      if (process.env.DATABASE_URL) await dropBenchDatabases(infra.pgAdminUrl, suffix).catch(() => undefined);
      await infra.stop().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  };
  try {
    for (const service of ["identity", "tenancy", "projects", "audit"] as const) {
      const database = `bench_${service}_${suffix}`;
      const roles = { owner: `${database}_owner`, app: `${database}_app` };
      const urls = await provisionDatabase({
        adminUrl: infra.pgAdminUrl,
        database,
        ownerRole: roles.owner,
        appRole: roles.app,
        passwords: { owner: randomBytes(18).toString("base64url"), app: randomBytes(18).toString("base64url") },
      });
      databases[service] = { ...urls, name: database, ownerRole: roles.owner, appRole: roles.app };
    }
    // four databases, four processes: migrated side by side
    await Promise.all(
      Object.entries(databases).map(([service, db]) =>
        runToEnd(`${service} migrate`, `services/${service}/src/migrate.ts`, {
          MIGRATION_DATABASE_URL: db.ownerUrl,
          DATABASE_APP_ROLE: db.appRole,
          LOG_LEVEL: "warn",
        }),
      ),
    );

    const secret = () => randomBytes(24).toString("base64url");
    const clients = [
      { id: "operator", secret: secret(), roles: ["platform-admin", "edge"] },
      { id: "rest", secret: secret(), roles: ["edge", "service"] },
      { id: "graphql", secret: secret(), roles: ["edge", "service"] },
      // tenancy drives moves, exports and deletions through each service's TenantDataService
      { id: "tenancy", secret: secret(), roles: ["service", TENANT_DATA_ADMIN_ROLE] },
      { id: "projects", secret: secret(), roles: ["service"] },
      { id: "audit", secret: secret(), roles: ["service"] },
    ];
    const secretOf = (id: string) => clients.find((c) => c.id === id)?.secret ?? "";
    const audiences = ["identity", "tenancy", "projects", "audit"];
    const cheapArgon2 = { IDENTITY_ARGON2_MEMORY_KIB: "1024", IDENTITY_ARGON2_TIME_COST: "1" };
    await runToEnd("identity seed", "services/identity/src/seed.ts", {
      DATABASE_URL: databases.identity.appUrl,
      IDENTITY_SEED_SERVICE_CLIENTS: JSON.stringify(clients.map((c) => ({ ...c, audiences }))),
      LOG_LEVEL: "warn",
      ...cheapArgon2,
    });

    const issuer = `http://identity.bench-${suffix}`;
    const procs = {} as Record<Exclude<BenchService, "audit">, BenchProcess> &
      Partial<Record<"audit" | "rest" | "graphql", BenchProcess>>;
    const envs: Partial<Record<BenchService, Record<string, string>>> = {};
    const start = async (name: string, main: string, env: Record<string, string>) => {
      const metricsPort = env.METRICS_PORT ?? String(await freePort());
      const full = { LOG_LEVEL: logLevel, PORT: "0", NATS_URL: infra.natsUrl, ...env, METRICS_PORT: metricsPort };
      const run = spawnMain(main, full);
      children.push(run.child);
      const listening = await waitForLine(run, name, "listening");
      const proc: BenchProcess = {
        name,
        url: `http://127.0.0.1:${String(listening.port)}`,
        metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
        child: run.child,
        tail: run.tail,
      };
      return { proc, run, env: { ...full, PORT: String(listening.port) } };
    };

    const identityStarted = await start("identity", "services/identity/src/main.ts", {
      HTTP_PORT: "0",
      AUTH_ISSUER: issuer,
      DATABASE_URL: databases.identity.appUrl,
      OUTBOX_RELAY_DATABASE_URL: databases.identity.ownerUrl,
      IDENTITY_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      IDENTITY_IP_MAX_FAILURES_PER_MINUTE: "100000",
      // durable consumers of their own: the NATS server may be shared (NATS_URL, the test run's)
      IDENTITY_TENANT_CONSUMER_NAME: `identity_tenants_${suffix}`,
      ...cheapArgon2,
      ...options.env?.identity,
    });
    const identity = identityStarted.proc;
    procs.identity = identity;
    envs.identity = identityStarted.env;
    const jwksUrl = String((await waitForLine(identityStarted.run, "identity", "jwks listening")).url);
    // tenancy starts last (it calls the tenant-data services) on a port the others already know
    const tenancyPort = await freePort();
    const tenancyUrl = `http://127.0.0.1:${tenancyPort}`;
    const serviceEnv = (service: "tenancy" | "projects" | "audit") => ({
      AUTH_JWKS_URL: jwksUrl,
      AUTH_ISSUER: issuer,
      DATABASE_URL: databases[service].appUrl,
      OUTBOX_RELAY_DATABASE_URL: databases[service].ownerUrl,
      SERVICE_CLIENT_ID: service,
      SERVICE_CLIENT_SECRET: secretOf(service),
      IDENTITY_URL: identity.url,
      TENANCY_URL: tenancyUrl,
    });
    const withAudit = options.audit ?? true;
    await Promise.all(
      (withAudit ? (["projects", "audit"] as const) : (["projects"] as const)).map(async (service) => {
        const started = await start(service, `services/${service}/src/main.ts`, {
          ...serviceEnv(service),
          ...(service === "audit" && { AUDIT_CONSUMER_NAME: `audit_${suffix}` }),
          ...options.env?.[service],
        });
        procs[service] = started.proc;
        envs[service] = started.env;
      }),
    );
    const exportDir = join(dataDir, "exports");
    mkdirSync(exportDir);
    const { privateKey } = generateKeyPairSync("ed25519");
    const tenancyStarted = await start("tenancy", "services/tenancy/src/main.ts", {
      ...serviceEnv("tenancy"),
      PORT: String(tenancyPort),
      // the local data plane, as `./tessera up` wires it: dedicated databases on this PostgreSQL
      TENANCY_DATA_SERVICES: JSON.stringify([
        { name: "identity", url: identity.url, routed: false, database: databases.identity.name },
        { name: "projects", url: procs.projects.url, routed: true, database: databases.projects.name },
      ]),
      TENANCY_DATABASE_SERVERS: JSON.stringify({ main: infra.pgAdminUrl }),
      TENANCY_DEFAULT_DATABASE_SERVER: "main",
      TENANCY_EXPORT_DIR: exportDir,
      TENANCY_EXPORT_SIGNING_KEY: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      ...options.env?.tenancy,
    });
    procs.tenancy = tenancyStarted.proc;
    envs.tenancy = tenancyStarted.env;

    const optional = (name: "audit" | "rest" | "graphql") => {
      const proc = procs[name];
      if (!proc) throw new Error(`${name} was not started (see the platform's options)`);
      return proc;
    };
    if (options.gateways ?? true) {
      if (!withAudit) throw new Error("the gateways need audit (AUDIT_URL)");
      const gatewayEnv = (clientId: string) => ({
        AUTH_JWKS_URL: jwksUrl,
        AUTH_ISSUER: issuer,
        IDENTITY_URL: identity.url,
        TENANCY_URL: tenancyUrl,
        PROJECTS_URL: procs.projects.url,
        AUDIT_URL: optional("audit").url,
        SERVICE_CLIENT_ID: clientId,
        SERVICE_CLIENT_SECRET: secretOf(clientId),
      });
      procs.rest = (
        await start("rest", "gateway/rest/src/main.ts", { ...gatewayEnv("rest"), ...(options.restEnv ?? {}) })
      ).proc;
      procs.graphql = (
        await start("graphql", "gateway/graphql/src/main.ts", {
          ...gatewayEnv("graphql"),
          ...(options.graphqlEnv ?? {}),
        })
      ).proc;
    }

    const tokens = createServiceTokenSource({
      identityUrl: identity.url,
      clientId: "operator",
      clientSecret: secretOf("operator"),
    });
    operatorTokens = tokens;
    const operatorTransport = (url: string, audience: string): Transport =>
      createGrpcTransport({ baseUrl: url, interceptors: [bearer(() => tokens.getToken(audience))] });
    const operatorTenancy = createClient(TenantService, operatorTransport(tenancyUrl, "tenancy"));
    const identityT = operatorTransport(identity.url, "identity");

    return {
      identity,
      get tenancy() {
        return procs.tenancy;
      },
      get projects() {
        return procs.projects;
      },
      get audit() {
        return optional("audit");
      },
      get rest() {
        return optional("rest");
      },
      get graphql() {
        return optional("graphql");
      },
      databases,
      pgAdminUrl: infra.pgAdminUrl,
      operatorTenancy,
      seedTenant: (plan, seedOptions) =>
        seedTenant(identity.url, identityT, operatorTenancy, plan ?? "enterprise", seedOptions ?? {}),
      async restart(service) {
        const before = procs[service];
        await stopChild(before.child);
        const env = envs[service] ?? {};
        const again = await start(service, `services/${service}/src/main.ts`, env);
        if (again.proc.url !== before.url)
          throw new Error(`${service} came back on ${again.proc.url}, not ${before.url}`);
        procs[service] = again.proc;
        return again.proc;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Drops the run's service databases, the tenants' databases beside them and the run's roles. */
async function dropBenchDatabases(adminUrl: string, suffix: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const like = `bench\\_%\\_${suffix}%`;
    const dbs = await admin.query<{ datname: string }>("select datname from pg_database where datname like $1", [like]);
    // tenants' databases (`<service database>_t_<hex>`) first: they belong to the service's roles too
    const names = dbs.rows.map((r) => r.datname).sort((a, b) => b.length - a.length);
    for (const name of names) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    const roles = await admin.query<{ rolname: string }>("select rolname from pg_roles where rolname like $1", [like]);
    for (const r of roles.rows) await admin.query(`DROP ROLE IF EXISTS "${r.rolname}"`);
  } finally {
    await admin.end();
  }
}

const bearer =
  (token: () => Promise<string>): Interceptor =>
  (next) =>
  async (req) => {
    req.header.set("authorization", `Bearer ${await token()}`);
    return next(req);
  };

/** A tenant created through tenancy by the operator credential, ACTIVE; users join by invitation. */
async function seedTenant(
  identityUrl: string,
  identityT: Transport,
  tenancy: Client<typeof TenantService>,
  plan: string,
  options: { tier?: Tier; timeoutMs?: number },
): Promise<SeededTenant> {
  const auth = createClient(AuthService, identityT);
  const members = createClient(MembershipService, identityT);
  const opts = { timeoutMs: 15_000 };
  const slug = `bench-${randomBytes(5).toString("hex")}`;
  const { tenant } = await tenancy.createTenant(
    { requestId: randomUUID(), slug, displayName: slug, tier: options.tier ?? Tier.POOL, plan, region: "local" },
    opts,
  );
  if (!tenant) throw new Error("tenancy returned no tenant");
  const tenantId = tenant.id;
  // a bridge tenant is usable once its saga made and migrated its databases and activated it
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (let status = tenant.status; status !== TenantStatus.ACTIVE; ) {
    if (Date.now() > deadline) {
      const progress = await tenancy.getProvisioning({ tenantId }, opts);
      const step = progress.steps.find((s) => s.lastError);
      throw new Error(
        `tenant ${slug} is not active after ${options.timeoutMs ?? 120_000} ms: ${step?.lastError ?? ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
    status = (await tenancy.getTenant({ tenantId }, opts)).tenant?.status ?? TenantStatus.UNSPECIFIED;
  }
  const internalToken = async (email: string, password: string, audience: string) => {
    const login = await auth.login(
      {
        email,
        password,
        tenant: { case: "tenantId", value: tenantId },
        client: { ip: "127.0.0.1", userAgent: "bench" },
      },
      opts,
    );
    const subjectToken = login.tokens?.accessToken ?? "";
    return (await auth.exchangeToken({ subjectToken, subjectTokenType: TokenType.ACCESS_TOKEN, audience }, opts))
      .accessToken;
  };
  const user = async (role: keyof typeof roleOf): Promise<SeededUser> => {
    const email = `${role}-${randomBytes(4).toString("hex")}@${slug}.test`;
    const password = `pw-${randomBytes(12).toString("base64url")}`;
    const inv = await members.createInvitation({ email, role: roleOf[role], tenantId }, opts);
    const accepted = await members.acceptInvitation({ token: inv.token, password, displayName: role }, opts);
    return {
      userId: accepted.membership?.userId ?? "",
      internalToken: (audience) => internalToken(email, password, audience),
    };
  };
  let owner: SeededUser | undefined;
  return {
    id: tenantId,
    user,
    async apiKey(role, scopes) {
      owner ??= await user("owner");
      const ownerToken = await owner.internalToken("identity");
      const created = await createClient(ApiKeyService, createGrpcTransport({ baseUrl: identityUrl })).createApiKey(
        { displayName: `bench-${role}`, role: roleOf[role], scopes },
        { ...opts, headers: { authorization: `Bearer ${ownerToken}` } },
      );
      return created.secret;
    },
  };
}
