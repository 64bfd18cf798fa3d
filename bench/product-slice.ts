/**
 * Product-slice benchmark (issue 4): (a) REST `GET /v1/projects/{id}` through the edge vs a bare
 * Fastify route in this process reading the same row from PostgreSQL as the app role; (b) the
 * GraphQL query `projects(first: 20) { tasks(first: 20) { assignee } }` vs the REST calls a partner
 * makes for the same answer; (c) RPCs per GraphQL operation at list lengths 10, 100 and 1,000,
 * counted from the services' `/metrics`. Starts PostgreSQL, NATS, identity, tenancy, projects and
 * both gateways as processes on 127.0.0.1. Usage: `node bench/product-slice.ts [--seconds N]`.
 * See bench/README.md.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ProjectService, TaskService } from "@tessera/proto/tessera/projects/v1/projects_pb";
import Fastify from "fastify";
import pg from "pg";
import { LatencyRecorder, type LoadResult, runLoad } from "./support/load.ts";
import { type BenchPlatform, type SeededTenant, startBenchPlatform } from "./support/platform.ts";
import { formatTable, type ScenarioStats, statsOf } from "./support/report.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    rounds: { type: "string", default: "3" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log("node bench/product-slice.ts [--seconds N] [--warmup N] [--rounds R]   (see bench/README.md)");
  process.exit(0);
}
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const rounds = Math.max(1, Math.trunc(Number(values.rounds)));
if (!(seconds > 0) || !(warmup >= 0) || !Number.isFinite(rounds)) {
  console.error("bad options: --seconds > 0, --warmup ≥ 0, --rounds ≥ 1");
  process.exit(2);
}
const LIST_LENGTHS = [10, 100, 1000] as const;
const GRAPHQL_PAGE = 250;

// Backstop: setup (≈ 1 min on a small machine), 2 interleaved scenario pairs, the RPC counts.
const budgetMs = 240_000 + 4 * (seconds + warmup) * 1000;
const backstop = setTimeout(() => {
  console.error(`product-slice: overran its ${Math.round(budgetMs / 1000)} s budget; exiting`);
  process.exit(1);
}, budgetMs);
backstop.unref();

let platform: BenchPlatform | undefined;
let db: pg.Pool | undefined;
let bareServer: { close(): Promise<unknown> } | undefined;
let exitCode = 0;
const log = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

/** Creates `projects` projects with `tasksEach` tasks each, all assigned to `assigneeId`, as `owner`. */
async function seedProjects(t: Transport, count: number, tasksEach: number, assigneeId: string): Promise<string[]> {
  const projects = createClient(ProjectService, t);
  const tasks = createClient(TaskService, t);
  const ids: string[] = [];
  await pool(
    Array.from({ length: count }, (_, i) => i),
    8,
    async (i) => {
      const { project } = await projects.createProject({ name: `Project ${i}`, key: `P${i}` }, { timeoutMs: 30_000 });
      ids.push(project?.id ?? "");
    },
  );
  const work = ids.flatMap((projectId) => Array.from({ length: tasksEach }, (_, i) => ({ projectId, i })));
  await pool(work, 8, ({ projectId, i }) =>
    tasks.createTask({ projectId, title: `Task ${i}`, assigneeId }, { timeoutMs: 30_000 }),
  );
  return ids;
}

const ownerTransport = async (p: BenchPlatform, tenant: SeededTenant) => {
  const owner = await tenant.user("owner");
  const token = await owner.internalToken("projects");
  return createGrpcTransport({
    baseUrl: p.projects.url,
    interceptors: [
      (next) => (req) => {
        req.header.set("authorization", `Bearer ${token}`);
        return next(req);
      },
    ],
  });
};

async function getJson(url: string, apiKey: string): Promise<unknown> {
  const res = await fetch(url, { headers: { "x-api-key": apiKey }, signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return res.json();
}

interface GraphqlPage {
  projects: {
    pageInfo: { endCursor: string | null; hasNextPage: boolean };
    edges: Array<{ node: { id: string; tasks: { edges: Array<{ node: { id: string; assignee: unknown } }> } } }>;
  };
}
const NESTED = `query Nested($first: Int!, $after: String) {
  projects(first: $first, after: $after) {
    pageInfo { endCursor hasNextPage }
    edges { node { id name tasks(first: 20) { edges { node { id title assignee { id displayName } } } } } }
  }
}`;
async function graphql(url: string, apiKey: string, first: number, after: string | null): Promise<GraphqlPage> {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": apiKey },
    body: JSON.stringify({ query: NESTED, variables: { first, after }, operationName: "Nested" }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await res.json()) as { data?: GraphqlPage; errors?: unknown };
  if (res.status !== 200 || body.errors || !body.data)
    throw new Error(`graphql: ${res.status} ${JSON.stringify(body).slice(0, 600)}`);
  return body.data;
}

/** GraphQL: one operation per page of up to 250 projects until `n` projects are in. Returns tasks seen and operations. */
async function graphqlAnswer(url: string, apiKey: string, n: number) {
  let after: string | null = null;
  let projects = 0;
  let tasks = 0;
  let assigned = 0;
  let operations = 0;
  while (projects < n) {
    const page: GraphqlPage = await graphql(url, apiKey, Math.min(GRAPHQL_PAGE, n - projects), after);
    operations++;
    for (const e of page.projects.edges) {
      projects++;
      for (const t of e.node.tasks.edges) {
        tasks++;
        if (t.node.assignee) assigned++;
      }
    }
    if (!page.projects.pageInfo.hasNextPage) break;
    after = page.projects.pageInfo.endCursor;
  }
  return { projects, tasks, assigned, operations };
}

interface RestList<T> {
  data: T[];
  next_cursor: string | null;
}
/** REST, as a partner would: list projects (pages of ≤ 100), then every project's first 20 tasks, 20 at a time. */
async function restAnswer(url: string, apiKey: string, n: number) {
  const ids: string[] = [];
  let cursor: string | null = null;
  let requests = 0;
  while (ids.length < n) {
    const limit = Math.min(100, n - ids.length);
    const page = (await getJson(
      `${url}/v1/projects?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      apiKey,
    )) as RestList<{ id: string }>;
    requests++;
    ids.push(...page.data.map((p) => p.id));
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  let tasks = 0;
  let assigned = 0;
  await pool(ids, 20, async (id) => {
    const page = (await getJson(`${url}/v1/projects/${id}/tasks?limit=20`, apiKey)) as RestList<{
      assignee_id?: string | null;
    }>;
    requests++;
    tasks += page.data.length;
    assigned += page.data.filter((t) => t.assignee_id).length;
  });
  return { projects: ids.length, tasks, assigned, requests };
}

/** Sum of `rpc_server_requests_total` by `<service> <method>` from one /metrics page. */
async function rpcCounts(p: BenchPlatform): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const svc of [p.identity, p.tenancy, p.projects, p.audit]) {
    const text = await (await fetch(svc.metricsUrl, { signal: AbortSignal.timeout(5_000) })).text();
    for (const line of text.split("\n")) {
      if (!line.startsWith("rpc_server_requests_total")) continue;
      const method = /rpc_method="([^"]+)"/.exec(line)?.[1] ?? "?";
      const value = Number(line.slice(line.lastIndexOf(" ") + 1));
      const key = `${svc.name} ${method}`;
      counts.set(key, (counts.get(key) ?? 0) + value);
    }
  }
  return counts;
}
async function countRpcs(p: BenchPlatform, op: () => Promise<unknown>): Promise<Map<string, number>> {
  const before = await rpcCounts(p);
  await op();
  // the server counts a call when its response ends; give the last one a moment
  await new Promise((r) => setTimeout(r, 200));
  const after = await rpcCounts(p);
  const diff = new Map<string, number>();
  for (const [k, v] of after) if (v - (before.get(k) ?? 0) > 0) diff.set(k, v - (before.get(k) ?? 0));
  return diff;
}
const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const breakdown = (m: Map<string, number>) =>
  [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k.split(" ")[1]?.split("/").pop() ?? k}×${v}`)
    .join(", ");

/**
 * CPU time (user + system, µs) of the platform's child processes (services and gateways; not
 * PostgreSQL or NATS), from /proc; NaN where /proc is not there.
 */
function childCpuMicros(p: BenchPlatform): number {
  let ticks = 0;
  for (const proc of [p.identity, p.tenancy, p.projects, p.audit, p.rest, p.graphql]) {
    try {
      const stat = readFileSync(`/proc/${proc.child.pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    } catch {
      return Number.NaN;
    }
  }
  return (ticks / CLOCK_TICKS) * 1e6;
}
const CLOCK_TICKS = 100;

interface Measured {
  stats: ScenarioStats;
  /** CPU of the services and gateways per successful call, µs. */
  platformCpuPerCall: number;
}

/** Interleaved rounds A B, B A, … after a warm-up of each, like grpc-unary.ts. */
async function interleaved(
  p: BenchPlatform,
  scenarios: ReadonlyArray<{ name: string; concurrency: number; call: () => Promise<unknown> }>,
): Promise<Measured[]> {
  for (const s of scenarios) await runLoad(s.call, warmup * 1000, s.concurrency);
  const results = scenarios.map(() => ({ rounds: [] as LoadResult[], rec: new LatencyRecorder(), childCpu: 0 }));
  const slice = (seconds * 1000) / rounds;
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < scenarios.length; k++) {
      const i = (r + k) % scenarios.length;
      const s = scenarios[i];
      const out = results[i];
      if (!s || !out) continue;
      const before = childCpuMicros(p);
      out.rounds.push(await runLoad(s.call, slice, s.concurrency, out.rec));
      out.childCpu += childCpuMicros(p) - before;
    }
  }
  return scenarios.map((s, i) => {
    const out = results[i];
    const failed = out?.rounds.find((x) => x.errors > 0);
    if (failed) {
      exitCode = 1;
      console.error(`${s.name}: errors, first:`, failed.firstError);
    }
    const stats = statsOf(s.name, out?.rounds ?? [], out?.rec.sorted() ?? new Float64Array());
    const calls = out?.rounds.reduce((sum, x) => sum + x.calls, 0) ?? 0;
    return { stats, platformCpuPerCall: calls > 0 ? (out?.childCpu ?? 0) / calls : Number.NaN };
  });
}

/** One line: throughput, p50 and p95 ratios, and the ratio of all CPU (this process + platform) per call. */
function compare(label: string, subject: Measured | undefined, reference: Measured | undefined): string {
  if (!subject || !reference) return `${label}: -`;
  const [a, b] = [subject.stats, reference.stats];
  const cpu = (m: Measured) => m.stats.cpuPerCall + m.platformCpuPerCall;
  const x = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}x` : "-");
  return `${label}: calls/s ${x(a.callsPerSec / b.callsPerSec)}, p50 ${x(a.p50 / b.p50)}, p95 ${x(a.p95 / b.p95)}, CPU per call ${x(cpu(subject) / cpu(reference))}`;
}

/** Where the CPU of one call went: this process (clients, bare route) and the services + gateways. */
function formatCpu(rows: readonly Measured[]): string {
  const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "-");
  const totalOf = (m: Measured) => m.stats.cpuPerCall + m.platformCpuPerCall;
  const base = rows[0];
  const header = ["CPU per call, µs", "this process", "services + gateways", "together", "vs base"];
  const body = rows.map((m) => [
    m.stats.name,
    int(m.stats.cpuPerCall),
    int(m.platformCpuPerCall),
    int(totalOf(m)),
    base ? `${(totalOf(m) / totalOf(base)).toFixed(2)}x` : "-",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

// Ctrl-C still stops the child processes and removes the temporary data directory.
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => {
    console.error(`product-slice: ${signal}, stopping`);
    void (platform?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  });

try {
  const t0 = Date.now();
  log("starting PostgreSQL, NATS, identity, tenancy, projects, rest and graphql gateways…");
  const p = await startBenchPlatform({
    logLevel: process.env.LOG_LEVEL ?? "info", // "listening" is logged at info
    // The bench measures cost, not the plan's request quota.
    restEnv: { RATE_LIMIT_ENABLED: "false" },
    // Page size at its hard maximum and cost high enough for 250 projects × 20 tasks per operation.
    graphqlEnv: { GRAPHQL_MAX_PAGE_SIZE: String(GRAPHQL_PAGE), GRAPHQL_MAX_COMPLEXITY: "1000000" },
  });
  platform = p;
  log(`started in ${((Date.now() - t0) / 1000).toFixed(1)} s; seeding…`);

  const tenant = await p.seedTenant();
  const member = await tenant.user("member");
  const apiKey = await tenant.apiKey("member", ["projects.read", "tasks.read", "identity.users.read"]);
  const ids = await seedProjects(await ownerTransport(p, tenant), 20, 20, member.userId);
  const big = await p.seedTenant();
  const bigMember = await big.user("member");
  const bigKey = await big.apiKey("member", ["projects.read", "tasks.read", "identity.users.read"]);
  await seedProjects(await ownerTransport(p, big), 1000, 1, bigMember.userId);
  log(`seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s total (20 × 20 tasks; 1,000 × 1 task in a second tenant)`);

  // (a) one project through the edge vs a bare route reading the row as the app role
  const pgPool = new pg.Pool({ connectionString: p.databases.projects.appUrl, max: 10 });
  pgPool.on("error", () => undefined); // idle connections cut at shutdown
  db = pgPool;
  const bare = Fastify({ logger: false });
  bareServer = bare;
  bare.get<{ Params: { id: string }; Headers: { "x-tenant-id": string } }>("/projects/:id", async (req, reply) => {
    const client = await pgPool.connect();
    try {
      await client.query("begin");
      await client.query("select set_config('app.tenant_id', $1, true)", [req.headers["x-tenant-id"]]);
      const { rows } = await client.query(
        "select id, key, name, description, archived_at, version, created_at, updated_at from projects where id = $1",
        [req.params.id],
      );
      await client.query("commit");
      if (rows.length === 0) return reply.code(404).send({ title: "Not Found" });
      return rows[0];
    } catch (err) {
      await client.query("rollback").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  });
  const bareUrl = await bare.listen({ host: "127.0.0.1", port: 0 });
  let n = 0;
  const nextId = () => ids[n++ % ids.length] as string;
  const bareCall = async () => {
    const res = await fetch(`${bareUrl}/projects/${nextId()}`, {
      headers: { "x-tenant-id": tenant.id },
      signal: AbortSignal.timeout(10_000),
    });
    if (res.status !== 200) throw new Error(`bare: ${res.status}`);
    await res.arrayBuffer();
  };
  const edgeCall = () => getJson(`${p.rest.url}/v1/projects/${nextId()}`, apiKey);
  const [edgeCheck, bareCheck] = [
    (await getJson(`${p.rest.url}/v1/projects/${ids[0]}`, apiKey)) as { id: string },
    (await (await fetch(`${bareUrl}/projects/${ids[0]}`, { headers: { "x-tenant-id": tenant.id } })).json()) as {
      id: string;
    },
  ];
  if (edgeCheck.id !== ids[0] || bareCheck.id !== ids[0]) throw new Error("edge and bare route disagree on the row");
  const wrongTenant = await fetch(`${bareUrl}/projects/${ids[0]}`, { headers: { "x-tenant-id": big.id } });
  if (wrongTenant.status !== 404) throw new Error("RLS did not hide the row from another tenant on the bare route");
  await wrongTenant.arrayBuffer();

  log("measuring (a) single project read…");
  const single = await interleaved(p, [
    { name: "bare Fastify + pg (app role, RLS)", concurrency: 8, call: bareCall },
    { name: "REST GET /v1/projects/{id} (edge)", concurrency: 8, call: edgeCall },
  ]);

  // (b) the nested answer: one GraphQL operation vs 1 + 20 REST requests
  const gq = await graphqlAnswer(p.graphql.url, apiKey, 20);
  const rs = await restAnswer(p.rest.url, apiKey, 20);
  if (gq.tasks !== 400 || rs.tasks !== 400 || gq.assigned !== 400 || rs.assigned !== 400)
    throw new Error(`answers are incomplete: graphql ${JSON.stringify(gq)}, rest ${JSON.stringify(rs)}`);
  log("measuring (b) 20 projects × 20 tasks with assignees…");
  const nested = await interleaved(p, [
    { name: "REST: 1 list + 20 task lists", concurrency: 4, call: () => restAnswer(p.rest.url, apiKey, 20) },
    {
      name: "GraphQL projects { tasks { assignee } }",
      concurrency: 4,
      call: () => graphqlAnswer(p.graphql.url, apiKey, 20),
    },
  ]);

  // (c) RPCs per answer at 10, 100 and 1,000 projects (1 task each, assigned)
  log("counting (c) RPCs per answer…");
  await graphqlAnswer(p.graphql.url, bigKey, 10); // warm the gateways' credential caches
  await restAnswer(p.rest.url, bigKey, 10);
  const rpcRows: string[][] = [];
  for (const len of LIST_LENGTHS) {
    let g = { projects: 0, tasks: 0, assigned: 0, operations: 0 };
    const gRpcs = await countRpcs(p, async () => {
      g = await graphqlAnswer(p.graphql.url, bigKey, len);
    });
    let r = { projects: 0, tasks: 0, assigned: 0, requests: 0 };
    const rRpcs = await countRpcs(p, async () => {
      r = await restAnswer(p.rest.url, bigKey, len);
    });
    if (g.projects !== len || r.projects !== len || g.assigned !== len || r.tasks !== len) {
      exitCode = 1;
      console.error(`list length ${len}: incomplete answer, graphql ${JSON.stringify(g)}, rest ${JSON.stringify(r)}`);
    }
    rpcRows.push([
      len.toLocaleString("en-US"),
      String(g.operations),
      total(gRpcs).toLocaleString("en-US"),
      (total(gRpcs) / g.operations).toFixed(1),
      breakdown(gRpcs),
      String(r.requests),
      total(rRpcs).toLocaleString("en-US"),
      breakdown(rRpcs),
    ]);
  }

  console.log(
    `\nproduct slice: ${seconds} s per scenario after ${warmup} s warm-up, interleaved in ${rounds} round(s); node ${process.version}`,
  );
  console.log("services and gateways are separate processes; clients and the bare route run in this process\n");
  console.log("(a) one project by id");
  const singleStats = single.map((m) => m.stats);
  console.log(formatTable(singleStats, singleStats[0]));
  console.log(`\n${formatCpu(single)}`);
  console.log(`\n${compare("edge vs bare", single[1], single[0])}`);
  console.log("\n(b) 20 projects × 20 tasks with assignees, one complete answer per call");
  const nestedStats = nested.map((m) => m.stats);
  console.log(formatTable(nestedStats, nestedStats[0]));
  console.log(`\n${formatCpu(nested)}`);
  console.log(`\n${compare("GraphQL vs REST", nested[1], nested[0])}`);
  console.log("REST has no user endpoint: its answer carries assignee_id only; GraphQL's also has the assignee's name");
  console.log(
    `\n(c) RPCs served by identity + tenancy + projects + audit per answer: N projects × 1 assigned task (GraphQL pages of ≤ ${GRAPHQL_PAGE}, REST pages of ≤ 100)`,
  );
  const header = [
    "N",
    "gql ops",
    "gql RPCs",
    "RPCs/op",
    "GraphQL RPCs by method",
    "REST reqs",
    "REST RPCs",
    "REST RPCs by method",
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rpcRows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => ([4, 7].includes(i) ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  console.log([line(header), line(widths.map((w) => "-".repeat(w))), ...rpcRows.map(line)].join("\n"));
} catch (err) {
  exitCode = 1;
  console.error("product-slice failed:", err);
}
await bareServer?.close().catch(() => undefined);
await db?.end().catch(() => undefined);
await platform?.stop();
process.exit(exitCode);
