/**
 * Starts the product slice for benchmarks without vitest: PostgreSQL + NATS (`startInfra`, or
 * DATABASE_URL / NATS_URL), one database per service with owner and app roles (as `./tessera up`
 * does), each service's migrate script, identity's seed, then identity, tenancy, projects, audit and both
 * gateways as child processes on 127.0.0.1. Also seeds tenants through the public contracts, the
 * way the test harness (test/harness/platform.ts) does.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { startInfra } from "@tessera/dev/infra";
import { createServiceTokenSource } from "@tessera/platform/auth";
import { provisionDatabase } from "@tessera/platform/db";
import { ApiKeyService } from "@tessera/proto/tessera/identity/v1/api_keys_pb";
import { AuthService, TokenType } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { MembershipService } from "@tessera/proto/tessera/identity/v1/memberships_pb";
import { Role } from "@tessera/proto/tessera/identity/v1/resources_pb";
import { TenantService, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";

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
  readonly ownerUrl: string;
  readonly appUrl: string;
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

export interface BenchPlatform {
  readonly identity: BenchProcess;
  readonly tenancy: BenchProcess;
  readonly projects: BenchProcess;
  readonly audit: BenchProcess;
  readonly rest: BenchProcess;
  readonly graphql: BenchProcess;
  readonly databases: Readonly<Record<"identity" | "tenancy" | "projects" | "audit", BenchDatabase>>;
  seedTenant(plan?: string): Promise<SeededTenant>;
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
 * costs the benchmark no memory.
 */
function spawnMain(main: string, env: Record<string, string>): Spawned {
  const child = spawn(process.execPath, [join(root, main)], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
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

/** Starts everything; `gatewayEnv` is added to both gateways' environments (limits for the bench). */
export async function startBenchPlatform(
  options: { logLevel?: string; restEnv?: Record<string, string>; graphqlEnv?: Record<string, string> } = {},
): Promise<BenchPlatform> {
  const logLevel = options.logLevel ?? "info";
  const dataDir = mkdtempSync(join(tmpdir(), "tessera-bench-slice-"));
  const infra = await startInfra({
    dataDir,
    persistent: false,
    fast: true,
    externalPgUrl: process.env.DATABASE_URL,
    externalNatsUrl: process.env.NATS_URL,
  });
  const children: ChildProcess[] = [];
  // Whatever way this process ends, no child outlives it.
  process.once("exit", () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  });
  // Idempotent: a signal handler and the main flow may both ask.
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      for (const c of [...children].reverse()) await stopChild(c).catch(() => undefined);
      await infra.stop().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  };
  try {
    const suffix = randomBytes(3).toString("hex");
    const databases = {} as Record<"identity" | "tenancy" | "projects" | "audit", BenchDatabase>;
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
      databases[service] = { ...urls, appRole: roles.app };
      await runToEnd(`${service} migrate`, `services/${service}/src/migrate.ts`, {
        MIGRATION_DATABASE_URL: urls.ownerUrl,
        DATABASE_APP_ROLE: roles.app,
        LOG_LEVEL: "warn",
      });
    }

    const secret = () => randomBytes(24).toString("base64url");
    const clients = [
      { id: "operator", secret: secret(), roles: ["platform-admin", "edge"] },
      { id: "rest", secret: secret(), roles: ["edge", "service"] },
      { id: "graphql", secret: secret(), roles: ["edge", "service"] },
      { id: "tenancy", secret: secret(), roles: ["service"] },
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
    const start = async (name: string, main: string, env: Record<string, string>) => {
      const metricsPort = await freePort();
      const run = spawnMain(main, {
        LOG_LEVEL: logLevel,
        PORT: "0",
        METRICS_PORT: String(metricsPort),
        NATS_URL: infra.natsUrl,
        ...env,
      });
      children.push(run.child);
      const listening = await waitForLine(run, name, "listening");
      const proc: BenchProcess = {
        name,
        url: `http://127.0.0.1:${String(listening.port)}`,
        metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
        child: run.child,
        tail: run.tail,
      };
      return { proc, run };
    };

    const { proc: identity, run: identityRun } = await start("identity", "services/identity/src/main.ts", {
      HTTP_PORT: "0",
      AUTH_ISSUER: issuer,
      DATABASE_URL: databases.identity.appUrl,
      OUTBOX_RELAY_DATABASE_URL: databases.identity.ownerUrl,
      IDENTITY_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      IDENTITY_IP_MAX_FAILURES_PER_MINUTE: "100000",
      ...cheapArgon2,
    });
    const jwksUrl = String((await waitForLine(identityRun, "identity", "jwks listening")).url);
    const serviceEnv = (service: "tenancy" | "projects" | "audit") => ({
      AUTH_JWKS_URL: jwksUrl,
      AUTH_ISSUER: issuer,
      DATABASE_URL: databases[service].appUrl,
      OUTBOX_RELAY_DATABASE_URL: databases[service].ownerUrl,
      SERVICE_CLIENT_ID: service,
      SERVICE_CLIENT_SECRET: secretOf(service),
      IDENTITY_URL: identity.url,
    });
    const tenancy = (await start("tenancy", "services/tenancy/src/main.ts", serviceEnv("tenancy"))).proc;
    const projects = (await start("projects", "services/projects/src/main.ts", serviceEnv("projects"))).proc;
    const audit = (await start("audit", "services/audit/src/main.ts", serviceEnv("audit"))).proc;
    const gatewayEnv = (clientId: string) => ({
      AUTH_JWKS_URL: jwksUrl,
      AUTH_ISSUER: issuer,
      IDENTITY_URL: identity.url,
      TENANCY_URL: tenancy.url,
      PROJECTS_URL: projects.url,
      AUDIT_URL: audit.url,
      SERVICE_CLIENT_ID: clientId,
      SERVICE_CLIENT_SECRET: secretOf(clientId),
    });
    const rest = (
      await start("rest", "gateway/rest/src/main.ts", { ...gatewayEnv("rest"), ...(options.restEnv ?? {}) })
    ).proc;
    const graphql = (
      await start("graphql", "gateway/graphql/src/main.ts", {
        ...gatewayEnv("graphql"),
        ...(options.graphqlEnv ?? {}),
      })
    ).proc;

    return {
      identity,
      tenancy,
      projects,
      audit,
      rest,
      graphql,
      databases,
      seedTenant: (plan) => seedTenant(identity.url, tenancy.url, secretOf("operator"), plan ?? "enterprise"),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

const bearer =
  (token: () => Promise<string>): Interceptor =>
  (next) =>
  async (req) => {
    req.header.set("authorization", `Bearer ${await token()}`);
    return next(req);
  };

/** A tenant created through tenancy by the operator credential; users join by invitation. */
async function seedTenant(
  identityUrl: string,
  tenancyUrl: string,
  operatorSecret: string,
  plan: string,
): Promise<SeededTenant> {
  const tokens = createServiceTokenSource({ identityUrl, clientId: "operator", clientSecret: operatorSecret });
  const transport = (url: string, audience: string): Transport =>
    createGrpcTransport({ baseUrl: url, interceptors: [bearer(() => tokens.getToken(audience))] });
  const identityT = transport(identityUrl, "identity");
  const auth = createClient(AuthService, identityT);
  const members = createClient(MembershipService, identityT);
  const opts = { timeoutMs: 15_000 };
  const slug = `bench-${randomBytes(5).toString("hex")}`;
  const { tenant } = await createClient(TenantService, transport(tenancyUrl, "tenancy")).createTenant(
    { requestId: randomUUID(), slug, displayName: slug, tier: Tier.POOL, plan, region: "local" },
    opts,
  );
  if (!tenant) throw new Error("tenancy returned no tenant");
  const tenantId = tenant.id;
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
