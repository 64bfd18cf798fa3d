/**
 * Tier benchmark: (a) a bridge tenant's point read (projects GetTask, its dedicated database) vs a
 * pool tenant's (the shared database, row-level security), same row shape, interleaved in one run;
 * (b) pool-set growth: with 1, 50 and 500 bridge tenants, the connections projects holds, the
 * dedicated databases it keeps open (TENANT_DB_MAX_OPEN), and the first request to a cold tenant
 * vs a warm one. Starts PostgreSQL, NATS, identity, tenancy and projects as processes on 127.0.0.1.
 * Usage: `node bench/tiers.ts [--levels 1,50,500]`; `--smoke` is the tiny run the test command
 * makes. See bench/README.md.
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { databaseEnv, tenantDatabasesEnv } from "@tessera/platform/service";
import { ProjectService, type Task, TaskSchema, TaskService } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { OperationState, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { interleaved, type MeasuredScenario } from "./support/interleave.ts";
import { LatencyRecorder, percentile, runLoad } from "./support/load.ts";
import { type BenchPlatform, type SeededUser, startBenchPlatform } from "./support/platform.ts";
import { formatTable } from "./support/report.ts";
import { connectionMonitor, processCpuMicros, processRssMiB } from "./support/system.ts";

const USAGE = `usage: node bench/tiers.ts [options]
  --levels LIST            bridge tenants in the set, ascending (default 1,50,500)
  --max-open N             projects' TENANT_DB_MAX_OPEN (default 50, the service's default)
  --seconds N              measured time of each closed-loop scenario (default 5)
  --warmup N               un-measured warm-up of each closed-loop scenario, seconds (default 1)
  --rounds R               interleaved rounds (default 3)
  --concurrency C          calls in flight in the closed loops (default 8)
  --cold-samples N         at least this many cold first requests per level: projects is restarted
                           ceil(N / level) times (default 10)
  --create-concurrency N   bridge tenants provisioned at once (default 4)
  --tasks N                tasks of each (a) tenant (default 20)
  --smoke                  tiny run for the test command (test/bench/smoke.test.ts): levels 1,3,
                           max-open 2 (so the LRU evicts), 0.6 s, 2 rounds, concurrency 8, 1 cold
                           sample, 5 tasks; explicit options still win`;

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

let parsed: Record<string, string | boolean | undefined>;
try {
  parsed = parseArgs({
    options: {
      levels: { type: "string" },
      "max-open": { type: "string" },
      seconds: { type: "string" },
      warmup: { type: "string" },
      rounds: { type: "string" },
      concurrency: { type: "string" },
      "cold-samples": { type: "string" },
      "create-concurrency": { type: "string" },
      tasks: { type: "string" },
      smoke: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  }).values;
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
if (parsed.help === true) {
  console.log(USAGE);
  process.exit(0);
}
const smoke = parsed.smoke === true;
const defaults = smoke
  ? { levels: "1,3", maxOpen: 2, seconds: 0.6, warmup: 0.2, rounds: 2, concurrency: 8, coldSamples: 1, tasks: 5 }
  : { levels: "1,50,500", maxOpen: 50, seconds: 5, warmup: 1, rounds: 3, concurrency: 8, coldSamples: 10, tasks: 20 };
const str = (key: string) => {
  const value = parsed[key];
  return typeof value === "string" ? value : undefined;
};
function num(key: string, fallback: number, min: number, max: number, integer = true): number {
  const raw = str(key);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n)))
    fail(`--${key} must be ${integer ? "an integer" : "a number"} from ${min} to ${max}`);
  return n;
}
const levels = (str("levels") ?? defaults.levels).split(",").map((v) => Number(v.trim()));
if (levels.some((n, i) => !Number.isInteger(n) || n < 1 || n > 5_000 || (i > 0 && n <= (levels[i - 1] ?? 0))))
  fail("--levels must be ascending integers from 1 to 5000");
const maxOpen = num("max-open", defaults.maxOpen, 1, 10_000);
const seconds = num("seconds", defaults.seconds, 0.1, 600, false);
const warmup = num("warmup", defaults.warmup, 0, 60, false);
const rounds = num("rounds", defaults.rounds, 1, 100);
const concurrency = num("concurrency", defaults.concurrency, 1, 256);
const coldSamples = num("cold-samples", defaults.coldSamples, 1, 1_000);
const createConcurrency = num("create-concurrency", 4, 1, 32);
const tasksEach = num("tasks", defaults.tasks, 1, 1_000);
/** The settings projects runs with here besides TENANT_DB_MAX_OPEN: the kit's defaults, for the output. */
const POOL_MAX_PER_DATABASE = tenantDatabasesEnv.TENANT_DB_POOL_MAX.parse(undefined);
const IDLE_MS = tenantDatabasesEnv.TENANT_DB_IDLE_MS.parse(undefined);
const POOL_DB_POOL_MAX = databaseEnv.DB_POOL_MAX.parse(undefined);
/** Each open dedicated database's outbox relay uses the router's owner-role pool (max 2, platform/src/db/router.ts). */
const OWNER_POOL_MAX = 2;
/** Warm requests after each cold one: to tenants among the last few touched (surely still open). */
const WARM_PER_COLD = 3;
const CALL_TIMEOUT_MS = 30_000;
const maxLevel = levels.at(-1) ?? 1;

// Backstop: setup, the move, making the bridge tenants, and per level restarts, cold passes, closed loops.
const budgetMs =
  (240 + 4 * maxLevel + levels.length * (90 + 3 * (seconds + warmup)) + 5 * coldSamples * levels.length) * 1000;
const backstop = setTimeout(() => {
  console.error(`tiers: overran its ${Math.round(budgetMs / 1000)} s budget; exiting`);
  process.exit(1);
}, budgetMs);
backstop.unref();

const started = Date.now();
const log = (msg: string) =>
  console.error(`[${new Date().toISOString().slice(11, 19)} +${Math.round((Date.now() - started) / 1000)}s] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`sanity check failed: ${what}`);
}

async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

/** A tenant's owner and a fresh internal token for projects (re-fetched when old). */
interface Caller {
  readonly tenantId: string;
  readonly user: SeededUser;
  token: string;
  tokenAt: number;
}
interface BridgeTenant extends Caller {
  readonly taskId: string;
}

async function callerOf(tenant: { id: string; user(role: "owner"): Promise<SeededUser> }): Promise<Caller> {
  const user = await tenant.user("owner");
  return { tenantId: tenant.id, user, token: await user.internalToken("projects"), tokenAt: Date.now() };
}

/** Internal tokens live 15 min here (IDENTITY_INTERNAL_TOKEN_TTL_MS); older than this they are renewed. */
const TOKEN_MAX_AGE_MS = 5 * 60_000;
async function refreshTokens(callers: readonly Caller[]): Promise<void> {
  const stale = callers.filter((c) => Date.now() - c.tokenAt > TOKEN_MAX_AGE_MS);
  await inParallel(stale, 8, async (c) => {
    c.token = await c.user.internalToken("projects");
    c.tokenAt = Date.now();
  });
}

/** projects over one HTTP/2 connection; each call carries its caller's token. */
function projectsClient(p: BenchPlatform) {
  const sessionManager = new Http2SessionManager(p.projects.url);
  const transport = createGrpcTransport({
    baseUrl: p.projects.url,
    sessionManager,
    defaultTimeoutMs: CALL_TIMEOUT_MS,
  });
  const as = (c: Caller) => ({ headers: { authorization: `Bearer ${c.token}` } });
  const projects = createClient(ProjectService, transport);
  const tasks = createClient(TaskService, transport);
  return {
    projects,
    tasks,
    as,
    getTask: (c: Caller, taskId: string) => tasks.getTask({ taskId }, as(c)),
    close: () => sessionManager.abort(),
  };
}
type ProjectsClient = ReturnType<typeof projectsClient>;

/** The same row shape for every tenant: title `Task <i>`, a 200-character description, two labels, a due date, assigned. */
async function seedTasks(client: ProjectsClient, c: Caller, count: number): Promise<string[]> {
  const { project } = await client.projects.createProject({ name: "Tiers", key: "TIER" }, client.as(c));
  check(project !== undefined, "CreateProject returned a project");
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const { task } = await client.tasks.createTask(
      {
        projectId: project.id,
        title: `Task ${String(i).padStart(4, "0")}`,
        description: "d".repeat(200),
        labels: ["bench", "tiers"],
        dueDate: "2030-01-01",
        assigneeId: c.user.userId,
      },
      client.as(c),
    );
    check(task !== undefined, "CreateTask returned a task");
    ids.push(task.id);
  }
  return ids;
}

/** Follows GetProvisioning until the tenant's latest operation is no longer running (as test/e2e/tiers does). */
async function awaitOperation(p: BenchPlatform, tenantId: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await p.operatorTenancy.getProvisioning({ tenantId }, { timeoutMs: 10_000 });
    if (res.operation && res.operation.state !== OperationState.RUNNING) return res.operation;
    if (Date.now() > deadline)
      throw new Error(
        `operation still running after ${timeoutMs} ms: ${res.operation?.phase} ${res.operation?.lastError}`,
      );
    await sleep(100);
  }
}

const hex = (id: string) => id.replaceAll("-", "");
const ms = (ns: number) => (Number.isFinite(ns) ? (ns / 1e6).toFixed(ns < 1e8 ? 1 : 0) : "-");
const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "-");
const ratio = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}x` : "-");

function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function reportErrors(rows: readonly MeasuredScenario[]): boolean {
  let failed = false;
  for (const r of rows) {
    if (r.stats.errors === 0) continue;
    failed = true;
    console.error(`${r.stats.name}: ${r.stats.errors} failed call(s), first:`, r.firstError);
  }
  return failed;
}

interface LevelResult {
  level: number;
  made: number;
  madeSeconds: number;
  restarts: number;
  cold: Float64Array;
  warm: Float64Array;
  closed: MeasuredScenario[];
  expectedOpen: number;
  openDatabases: number;
  peakOpen: number;
  conns: Awaited<ReturnType<Awaited<ReturnType<typeof connectionMonitor>>["read"]>>;
  peakConns: number;
  rssMiB: number;
  idleCpu: number;
}

let platform: BenchPlatform | undefined;
let exitCode = 0;
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => {
    console.error(`tiers: ${signal}, stopping`);
    void (platform?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  });

try {
  log(`starting PostgreSQL, NATS, identity, tenancy and projects (TENANT_DB_MAX_OPEN=${maxOpen})…`);
  const p = await startBenchPlatform({
    logLevel: process.env.LOG_LEVEL ?? "info",
    gateways: false,
    audit: false,
    env: {
      identity: { IDENTITY_INTERNAL_TOKEN_TTL_MS: "900000" },
      projects: { TENANT_DB_MAX_OPEN: String(maxOpen) },
      // a move's drain and grace shortened from 35 s / 5 min, as the e2e tests do: the bench waits for it
      tenancy: {
        TENANCY_MOVE_DRAIN_MS: "1500",
        TENANCY_MOVE_GRACE_MS: "2000",
        PROVISIONING_RETRY_INITIAL_MS: "200",
        PROVISIONING_RETRY_MAX_MS: "2000",
      },
    },
  });
  platform = p;
  const projectsDb = p.databases.projects;
  const monitor = await connectionMonitor(p.pgAdminUrl, {
    poolDatabase: projectsDb.name,
    ownerRole: projectsDb.ownerRole,
    appRole: projectsDb.appRole,
  });
  const projectsCpu = () => processCpuMicros([p.projects.child.pid]);
  log("started; seeding (a): a pool tenant and a tenant to move, same rows…");

  // (a) two tenants with the same rows in the pool; one is moved to the bridge tier
  let client = projectsClient(p);
  const poolTenant = await callerOf(await p.seedTenant("enterprise"));
  const movedTenant = await callerOf(await p.seedTenant("enterprise"));
  const poolTasks = await seedTasks(client, poolTenant, tasksEach);
  const movedTasks = await seedTasks(client, movedTenant, tasksEach);
  const moveStarted = Date.now();
  await p.operatorTenancy.moveTenant({
    tenantId: movedTenant.tenantId,
    requestId: randomUUID(),
    targetTier: Tier.BRIDGE,
  });
  const op = await awaitOperation(p, movedTenant.tenantId, 240_000);
  check(op.state === OperationState.SUCCEEDED, `the move succeeded (${op.phase}: ${op.lastError})`);
  const moveSeconds = (Date.now() - moveStarted) / 1000;
  const movedView = (await p.operatorTenancy.getTenant({ tenantId: movedTenant.tenantId })).tenant;
  check(movedView?.tier === Tier.BRIDGE, "the moved tenant is on the bridge tier");
  check(
    movedView.placement?.database === `main/t_${hex(movedTenant.tenantId)}`,
    "the moved tenant is placed in its dedicated database",
  );
  const [inBridge] = await monitor.queryDatabase<{ n: string }>(
    `${projectsDb.name}_t_${hex(movedTenant.tenantId)}`,
    "select count(*)::text as n from tasks where tenant_id = $1",
    [movedTenant.tenantId],
  );
  check(Number(inBridge?.n) === tasksEach, "the dedicated database holds the moved tenant's tasks");
  log(`moved one tenant pool → bridge in ${moveSeconds.toFixed(1)} s; checking both reads…`);

  // the same row shape: task i of either tenant encodes to the same number of bytes
  for (let i = 0; i < tasksEach; i++) {
    const [a, b] = await Promise.all([
      client.getTask(poolTenant, poolTasks[i] as string),
      client.getTask(movedTenant, movedTasks[i] as string),
    ]);
    check(a.task !== undefined && b.task !== undefined, "both tenants read their task");
    // same fields and values but ids and times (whose varint encodings may differ by a few bytes)
    const shape = (t: Task) =>
      JSON.stringify(
        { ...t, id: "", projectId: "", assigneeId: "", createTime: undefined, updateTime: undefined },
        (_k, v) => (typeof v === "bigint" ? String(v) : v),
      );
    const sizes = [toBinary(TaskSchema, a.task).length, toBinary(TaskSchema, b.task).length];
    check(
      shape(a.task) === shape(b.task) && Math.abs((sizes[0] ?? 0) - (sizes[1] ?? 0)) <= 4,
      `pool and bridge rows have the same shape (${shape(a.task)} ${sizes[0]} bytes vs ${shape(b.task)} ${sizes[1]} bytes)`,
    );
  }
  for (const [reader, taskId] of [
    [poolTenant, movedTasks[0]],
    [movedTenant, poolTasks[0]],
  ] as const) {
    const denied = await client.getTask(reader, taskId as string).then(
      () => undefined,
      (err: unknown) => ConnectError.from(err),
    );
    check(denied?.code === Code.NotFound, "a tenant cannot read the other tier's tenant's task");
  }

  let poolNext = 0;
  let movedNext = 0;
  const poolRead = () => client.getTask(poolTenant, poolTasks[poolNext++ % poolTasks.length] as string);
  const movedRead = () => client.getTask(movedTenant, movedTasks[movedNext++ % movedTasks.length] as string);
  log("measuring (a) point reads, pool vs bridge…");
  const pointReads = await interleaved(
    [
      { name: "pool tenant GetTask (shared db, RLS)", concurrency, call: poolRead },
      { name: "bridge tenant GetTask (dedicated db)", concurrency, call: movedRead },
    ],
    { warmupMs: warmup * 1000, measureMs: seconds * 1000, rounds, childCpuMicros: projectsCpu, progress: log },
  );
  if (reportErrors(pointReads)) exitCode = 1;

  // (b) pool-set growth
  const set: BridgeTenant[] = [];
  const results: LevelResult[] = [];
  for (const level of levels) {
    const made = level - set.length;
    const madeStarted = Date.now();
    log(`(b) level ${level}: provisioning ${made} bridge tenant(s) through CreateTenant(tier BRIDGE)…`);
    let done = 0;
    await inParallel(
      Array.from({ length: made }, (_, i) => i),
      createConcurrency,
      async () => {
        const caller = await callerOf(await p.seedTenant("enterprise", { tier: Tier.BRIDGE, timeoutMs: 180_000 }));
        const [taskId] = await seedTasks(client, caller, 1);
        set.push({ ...caller, taskId: taskId as string });
        if (++done % 50 === 0) log(`  ${done}/${made} made`);
      },
    );
    const madeSeconds = (Date.now() - madeStarted) / 1000;
    if (made > 0) log(`  made ${made} in ${madeSeconds.toFixed(1)} s`);
    await refreshTokens([poolTenant, movedTenant, ...set]);

    const restarts = Math.max(1, Math.ceil(coldSamples / level));
    const cold = new LatencyRecorder();
    const warm = new LatencyRecorder();
    const window = Math.max(1, Math.floor(maxOpen / 2));
    const sampler = monitor.sample(100);
    for (let r = 0; r < restarts; r++) {
      log(`  restart ${r + 1}/${restarts} of projects, then ${level} cold first request(s)…`);
      client.close();
      await p.restart("projects");
      client = projectsClient(p);
      // warm what any long-running process has warm: the JWKS, the pool database, the JIT, and
      // the path that opens a dedicated database (the moved tenant's, which is not in the set)
      await runLoad(poolRead, Math.max(200, warmup * 1000), concurrency);
      for (let i = 0; i < 20; i++) await movedRead();
      const recent: BridgeTenant[] = [];
      for (const t of shuffled(set)) {
        const t0 = process.hrtime.bigint();
        await client.getTask(t, t.taskId);
        cold.add(Number(process.hrtime.bigint() - t0));
        recent.push(t);
        if (recent.length > window) recent.shift();
        for (let k = 0; k < WARM_PER_COLD; k++) {
          const w = recent[Math.floor(Math.random() * recent.length)] as BridgeTenant;
          const t1 = process.hrtime.bigint();
          await client.getTask(w, w.taskId);
          warm.add(Number(process.hrtime.bigint() - t1));
        }
      }
    }
    let rr = 0;
    log(`  closed loop: pool tenant vs all ${level} bridge tenant(s) round-robin…`);
    const closed = await interleaved(
      [
        { name: "pool tenant GetTask", concurrency, call: poolRead },
        {
          name: `${level} bridge tenants round-robin`,
          concurrency,
          call: () => {
            const t = set[rr++ % set.length] as BridgeTenant;
            return client.getTask(t, t.taskId);
          },
        },
      ],
      { warmupMs: warmup * 1000, measureMs: seconds * 1000, rounds, childCpuMicros: projectsCpu },
    );
    if (reportErrors(closed)) exitCode = 1;
    const peak = await sampler.stop();
    // settle (relays started, closes finished), then what projects holds with no traffic
    await sleep(1_000);
    const conns = await monitor.read();
    const cpu0 = projectsCpu();
    await sleep(2_000);
    const idleCpu = (projectsCpu() - cpu0) / 2e6;
    const expectedOpen = Math.min(level + 1, maxOpen);
    // the LRU closes only idle databases, on the next open: up to `concurrency` in use may stay over the bound
    check(
      conns.dedicatedDatabases >= Math.min(level, maxOpen) && conns.dedicatedDatabases <= maxOpen + concurrency,
      `projects holds connections to ${conns.dedicatedDatabases} dedicated databases; TENANT_DB_MAX_OPEN=${maxOpen}, ${level} touched`,
    );
    results.push({
      level,
      made,
      madeSeconds,
      restarts,
      cold: cold.sorted(),
      warm: warm.sorted(),
      closed,
      expectedOpen,
      openDatabases: conns.dedicatedDatabases,
      peakOpen: peak.dedicatedDatabases,
      conns,
      peakConns: peak.total,
      rssMiB: processRssMiB(p.projects.child.pid),
      idleCpu,
    });
  }
  await monitor.close();
  client.close();

  // the report
  const budget = maxOpen * (POOL_MAX_PER_DATABASE + OWNER_POOL_MAX) + POOL_DB_POOL_MAX + 2 + OWNER_POOL_MAX;
  console.log(
    `\ntiers: ${seconds} s per closed-loop scenario after ${warmup} s warm-up, interleaved in ${rounds} round(s), concurrency ${concurrency}; node ${process.version}${smoke ? "; SMOKE RUN (tiny counts, numbers mean nothing)" : ""}`,
  );
  console.log(
    `projects: TENANT_DB_MAX_OPEN=${maxOpen}, TENANT_DB_POOL_MAX=${POOL_MAX_PER_DATABASE}, TENANT_DB_IDLE_MS=${IDLE_MS}, DB_POOL_MAX=${POOL_DB_POOL_MAX} (pool database); ` +
      `PostgreSQL max_connections=${monitor.maxConnections}; projects may hold up to ${budget} connections ` +
      `(${maxOpen} × (${POOL_MAX_PER_DATABASE} app + ${OWNER_POOL_MAX} owner/relay) + pool database ${POOL_DB_POOL_MAX} app + 2 relay + ${OWNER_POOL_MAX} owner)`,
  );
  console.log("identity, tenancy and projects are separate processes; the clients run in this process\n");

  console.log(
    `(a) one task by id through projects' GetTask (gRPC, the owner's internal token): a pool tenant vs a tenant moved pool → bridge with MoveTenant (${moveSeconds.toFixed(1)} s, ${tasksEach} tasks each, same row shape)`,
  );
  const aStats = pointReads.map((m) => m.stats);
  console.log(formatTable(aStats, aStats[0]));
  const [pa, pb] = pointReads;
  if (pa && pb)
    console.log(
      `\nbridge vs pool: calls/s ${ratio(pb.stats.callsPerSec / pa.stats.callsPerSec)}, p50 ${ratio(pb.stats.p50 / pa.stats.p50)}, ` +
        `p95 ${ratio(pb.stats.p95 / pa.stats.p95)}, projects CPU per call ${int(pb.childCpuPerCall)} vs ${int(pa.childCpuPerCall)} µs (${ratio(pb.childCpuPerCall / pa.childCpuPerCall)})`,
    );

  const made = results.reduce((n, r) => n + r.made, 0);
  const madeSeconds = results.reduce((n, r) => n + r.madeSeconds, 0);
  console.log(
    `\n(b) pool-set growth. The bridge tenants were made with CreateTenant(tier BRIDGE) through tenancy: its provisioning saga ` +
      `with the local driver (ensureDatabase on the same PostgreSQL, then projects' TenantDataService.PrepareDatabase migrates it), ` +
      `then one project and one task each through projects' RPCs; ${made} made in ${madeSeconds.toFixed(0)} s ` +
      `(${int((madeSeconds * 1000) / Math.max(1, made))} ms each at ${createConcurrency} at once), none by MoveTenant. ` +
      `Every level restarts projects first (all databases closed, placements uncached) and touches the moved tenant of (a) once to warm the open path.`,
  );
  console.log(
    `cold = the first GetTask of a tenant after the restart (its database opened, its placement resolved), one at a time; ` +
      `warm = ${WARM_PER_COLD} GetTasks after each cold one, to tenants among the last ${Math.max(1, Math.floor(maxOpen / 2))} touched (open)\n`,
  );
  console.log(
    table(
      [
        "bridge tenants",
        "restarts",
        "cold n",
        "cold p50 ms",
        "cold p95 ms",
        "warm n",
        "warm p50 ms",
        "warm p95 ms",
        "cold/warm p95",
        "pool calls/s",
        "round-robin calls/s",
        "pool p95 ms",
        "round-robin p95 ms",
        "rr vs pool calls/s",
      ],
      results.map((r) => {
        const [pool, all] = r.closed.map((m) => m.stats);
        return [
          int(r.level),
          String(r.restarts),
          int(r.cold.length),
          ms(percentile(r.cold, 0.5)),
          ms(percentile(r.cold, 0.95)),
          int(r.warm.length),
          ms(percentile(r.warm, 0.5)),
          ms(percentile(r.warm, 0.95)),
          ratio(percentile(r.cold, 0.95) / percentile(r.warm, 0.95)),
          int(pool?.callsPerSec ?? Number.NaN),
          int(all?.callsPerSec ?? Number.NaN),
          ms((pool?.p95 ?? Number.NaN) * 1000),
          ms((all?.p95 ?? Number.NaN) * 1000),
          ratio((all?.callsPerSec ?? Number.NaN) / (pool?.callsPerSec ?? Number.NaN)),
        ];
      }),
    ),
  );
  console.log(
    `\nround-robin = closed loop over every bridge tenant of the level in turn, interleaved with the pool tenant's reads; ` +
      `beyond TENANT_DB_MAX_OPEN almost every call reopens a database (the least recently used one is the next in turn)\n`,
  );
  console.log(
    table(
      [
        "bridge tenants",
        "open dbs",
        "expected",
        "peak open",
        "conns now",
        "pool db",
        "dedicated app",
        "dedicated owner",
        "peak conns",
        "RSS MiB",
        "idle CPU",
      ],
      results.map((r) => [
        int(r.level),
        int(r.openDatabases),
        int(r.expectedOpen),
        int(r.peakOpen),
        int(r.conns.total),
        int(r.conns.pool),
        int(r.conns.dedicatedApp),
        int(r.conns.dedicatedOwner),
        int(r.peakConns),
        int(r.rssMiB),
        `${Math.round(r.idleCpu * 100)}%`,
      ]),
    ),
  );
  console.log(
    `\nopen dbs = dedicated databases projects holds a connection to, from pg_stat_activity (each open one's outbox relay polls ` +
      `it every 250 ms through the owner role, so open ⇔ connected); expected = min(tenants touched since the restart + the moved one, ` +
      `TENANT_DB_MAX_OPEN). conns = rows of pg_stat_activity logged in as projects' two roles, after the level's traffic; peak = ` +
      `most seen while the level ran (sampled every 100 ms). RSS and idle CPU (2 s without requests, share of one core) are the projects process's.`,
  );
} catch (err) {
  exitCode = 1;
  console.error("tiers failed:", err);
}
log("stopping (removing hundreds of databases' files can take a minute or two)…");
await platform?.stop();
process.exit(exitCode);
