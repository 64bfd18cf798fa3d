/**
 * gRPC unary benchmark of the platform kit: a bare node:http2 gRPC echo (the floor), the echo
 * service on createRpcServer without caller interceptors, and the same with the full stack
 * (telemetry, auth with a real token, tenant context). Everything runs in this process on
 * 127.0.0.1. Usage: `node bench/grpc-unary.ts [--seconds N] [--concurrency C]` (`--help` for every option);
 * bench/README.md says how to read the output.
 */
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { type Client, Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { MetricReader } from "@opentelemetry/sdk-metrics";
import { authInterceptor, createTokenVerifier } from "@tessera/platform/auth";
import { startTestIssuer, type TestSigningAlg } from "@tessera/platform/auth/testing";
import { createLogger, setRootLogger } from "@tessera/platform/log";
import { initTelemetry, telemetryClientInterceptor, telemetryServerInterceptor } from "@tessera/platform/telemetry";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { buildEchoServer } from "../test/fixtures/echo-service/server.ts";
import { type BenchServer, startBareGrpcEchoServer } from "./support/bare-grpc.ts";
import { LatencyRecorder, type LoadResult, runLoad } from "./support/load.ts";
import { formatComparison, formatTable, type ScenarioStats, statsOf } from "./support/report.ts";

const USAGE = `usage: node bench/grpc-unary.ts [options]
  --seconds N       measured duration of each scenario (default 5)
  --warmup N        un-measured warm-up of each scenario before measuring, seconds (default 1)
  --rounds R        split each scenario's measured time into R interleaved rounds (default 5)
  --concurrency C   calls in flight at once, on one HTTP/2 connection (default 32)
  --alg A           signing algorithm of the token: EdDSA (default) or ES256
  --only LIST       run only these scenarios, comma-separated: baseline, kit, full (for profiling)`;

interface BenchOptions {
  readonly seconds: number;
  readonly warmup: number;
  readonly rounds: number;
  readonly concurrency: number;
  readonly alg: TestSigningAlg;
  readonly only: ReadonlySet<ScenarioId> | undefined;
}

const SCENARIO_IDS = ["baseline", "kit", "full"] as const;
type ScenarioId = (typeof SCENARIO_IDS)[number];

function isScenarioId(value: string): value is ScenarioId {
  return (SCENARIO_IDS as readonly string[]).includes(value);
}

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

function numberArg(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) fail(`--${name} must be a number from ${min} to ${max}`);
  return n;
}

function parseOptions(): BenchOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        seconds: { type: "string" },
        warmup: { type: "string" },
        rounds: { type: "string" },
        concurrency: { type: "string" },
        alg: { type: "string" },
        only: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  if (values.help === true) {
    console.log(USAGE);
    process.exit(0);
  }
  const str = (key: string) => (typeof values[key] === "string" ? values[key] : undefined);
  const concurrency = numberArg(str("concurrency"), "concurrency", 32, 1, 1024);
  if (!Number.isInteger(concurrency)) fail("--concurrency must be an integer");
  const rounds = numberArg(str("rounds"), "rounds", 5, 1, 100);
  if (!Number.isInteger(rounds)) fail("--rounds must be an integer");
  const alg = str("alg") ?? "EdDSA";
  if (alg !== "EdDSA" && alg !== "ES256") fail("--alg must be EdDSA or ES256");
  const onlyList = str("only")
    ?.split(",")
    .map((s) => s.trim());
  if (onlyList?.some((id) => !isScenarioId(id))) fail(`--only takes ${SCENARIO_IDS.join(", ")}`);
  return {
    seconds: numberArg(str("seconds"), "seconds", 5, 0.1, 600),
    warmup: numberArg(str("warmup"), "warmup", 1, 0, 60),
    rounds,
    concurrency,
    alg,
    only: onlyList ? new Set(onlyList.filter(isScenarioId)) : undefined,
  };
}

/** 64 bytes of message: a small payload, as most internal calls carry. */
const PAYLOAD = "tessera bench: a small unary payload, sixty-four bytes in total.";
const ECHO_PATH = `/${EchoService.typeName}/${EchoService.method.echo.name}`;
const AUDIENCE = "echo-service";
const TENANT = "tenant-bench";
const SUBJECT = "bench-caller";
/** Every call has a deadline, as in services; it also bounds a stuck call. */
const CALL_TIMEOUT_MS = 5_000;
/** Below this share of on-CPU time the run is flagged: the OS kept giving the CPU to other processes. */
const BUSY_MACHINE_ON_CPU = 0.85;

type EchoClient = Client<typeof EchoService>;

/** A scenario's server, up and ready, and how its client calls it. */
interface RunningScenario {
  readonly baseUrl: string;
  readonly clientInterceptors: Interceptor[];
  /** One or two calls proving the scenario does what it says before it is measured. */
  check(client: EchoClient): Promise<void>;
  /** Stops what setUp started; `calls` is how many calls the client made in all. */
  tearDown(calls: number): Promise<string[]>;
}

interface Scenario {
  readonly id: ScenarioId;
  readonly name: string;
  setUp(): Promise<RunningScenario>;
}

function expect(condition: boolean, what: string): void {
  if (!condition) throw new Error(`sanity check failed: ${what}`);
}

/** Sets `authorization: Bearer <token>` unless the call already carries one. */
function bearer(token: string): Interceptor {
  return (next) => (req) => {
    if (!req.header.has("authorization")) req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

/** A pull-only metric reader: metrics are aggregated as for Prometheus, but nothing exports them. */
class PullOnlyReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** Sum of a counter's data points across every scope, from one collection. */
async function counterTotal(reader: MetricReader, name: string): Promise<number> {
  const { resourceMetrics } = await reader.collect();
  let total = 0;
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== name) continue;
      for (const point of metric.dataPoints) if (typeof point.value === "number") total += point.value;
    }
  }
  return total;
}

function scenarios(options: BenchOptions, logger: ReturnType<typeof createLogger>): Scenario[] {
  const kitServer = async (interceptors: Interceptor[]) => {
    const server = buildEchoServer({ logger, interceptors, shutdownGraceMs: 5_000 });
    const { url } = await server.listen();
    const stop: BenchServer["stop"] = async () => {
      const outcome = await server.shutdown("benchmark over");
      if (outcome.forced) throw new Error("kit server had to be shut down forcibly");
    };
    return { baseUrl: url, stop };
  };

  return [
    {
      id: "baseline",
      name: "baseline (bare http2)",
      async setUp() {
        const server = await startBareGrpcEchoServer(ECHO_PATH);
        return {
          baseUrl: server.baseUrl,
          clientInterceptors: [],
          async check(client) {
            const res = await client.echo({ message: PAYLOAD });
            expect(res.message === PAYLOAD, "bare server echoes the message");
          },
          async tearDown() {
            await server.stop();
            return [];
          },
        };
      },
    },
    {
      id: "kit",
      name: "kit, no interceptors",
      async setUp() {
        const server = await kitServer([]);
        return {
          baseUrl: server.baseUrl,
          clientInterceptors: [],
          async check(client) {
            const res = await client.echo({ message: PAYLOAD });
            expect(res.message === PAYLOAD && res.tenantId === "", "kit server echoes, with no tenant");
          },
          async tearDown() {
            await server.stop();
            return [];
          },
        };
      },
    },
    {
      id: "full",
      name: "kit, full stack",
      async setUp() {
        const issuer = await startTestIssuer({ alg: options.alg });
        // The token must outlive the whole run (every scenario's warm-up and measurement).
        const lifetimeSec = Math.ceil(3 * (options.seconds + options.warmup)) + 120;
        const token = await issuer.mint(
          { aud: AUDIENCE, sub: SUBJECT, kind: "service", tid: TENANT, roles: ["bench"] },
          { expiresIn: lifetimeSec },
        );
        const verifier = createTokenVerifier({ jwksUrl: issuer.jwksUrl, issuer: issuer.issuer, audience: AUDIENCE });
        const reader = new PullOnlyReader();
        const telemetry = await initTelemetry({ service: "bench", metricReader: reader, logger });
        const server = await kitServer([telemetryServerInterceptor(), authInterceptor({ verifier, log: logger })]);
        return {
          baseUrl: server.baseUrl,
          clientInterceptors: [telemetryClientInterceptor(), bearer(token)],
          async check(client) {
            const res = await client.echo({ message: PAYLOAD });
            expect(
              res.message === PAYLOAD && res.tenantId === TENANT && res.subject === SUBJECT,
              "handler runs as the token's tenant and subject",
            );
            const rejected = await client
              .echo({ message: PAYLOAD }, { headers: { authorization: "Bearer not-a-token" } })
              .then(
                () => undefined,
                (err: unknown) => ConnectError.from(err),
              );
            expect(rejected?.code === Code.Unauthenticated, "a bad token is rejected");
          },
          async tearDown(calls) {
            let served: number;
            const jwksFetches = issuer.jwksRequests;
            try {
              await server.stop();
              served = await counterTotal(reader, "rpc.server.requests");
            } finally {
              await telemetry.shutdown();
              await issuer.stop();
            }
            return [
              `full stack: server telemetry counted ${served.toLocaleString("en-US")} calls ` +
                `(client made ${calls.toLocaleString("en-US")}); JWKS fetched ${jwksFetches} time(s); token ${options.alg}`,
            ];
          },
        };
      },
    },
  ];
}

function echoClient(baseUrl: string, interceptors: Interceptor[]): { client: EchoClient; close(): void } {
  const sessionManager = new Http2SessionManager(baseUrl);
  const transport = createGrpcTransport({ baseUrl, sessionManager, interceptors, defaultTimeoutMs: CALL_TIMEOUT_MS });
  return { client: createClient(EchoService, transport), close: () => sessionManager.abort() };
}

/** A scenario that is set up: its server, its client, and what was measured so far. */
interface ActiveScenario {
  readonly scenario: Scenario;
  readonly running: RunningScenario;
  readonly client: EchoClient;
  readonly close: () => void;
  readonly recorder: LatencyRecorder;
  readonly rounds: LoadResult[];
  /** Every call the client made, checks and warm-up included. */
  calls: number;
  errors: number;
  firstError: unknown;
}

function account(active: ActiveScenario, run: LoadResult): void {
  active.calls += run.calls + run.errors;
  active.errors += run.errors;
  active.firstError ??= run.firstError;
}

/**
 * Sets every scenario up (servers listening, clients connected and checked), warms each up, then
 * measures them interleaved: `rounds` rounds, each giving every scenario `seconds / rounds`,
 * with the order rotated every round, so that a machine that speeds up or slows down during the
 * run (a shared or throttled host) weighs on every scenario alike.
 */
async function measure(
  plan: readonly Scenario[],
  options: BenchOptions,
): Promise<{ results: Map<ScenarioId, ScenarioStats>; notes: string[] }> {
  const active: ActiveScenario[] = [];
  const notes: string[] = [];
  const failures: unknown[] = [];
  try {
    for (const scenario of plan) {
      const running = await scenario.setUp();
      const { client, close } = echoClient(running.baseUrl, running.clientInterceptors);
      const entry: ActiveScenario = {
        scenario,
        running,
        client,
        close,
        recorder: new LatencyRecorder(),
        rounds: [],
        calls: 0,
        errors: 0,
        firstError: undefined,
      };
      active.push(entry);
      await running.check(client);
      entry.calls += 2;
    }
    const callOf = (a: ActiveScenario) => () => a.client.echo({ message: PAYLOAD });
    for (const a of active) {
      progress(`warm-up ${a.scenario.name}: ${options.warmup} s`);
      account(a, await runLoad(callOf(a), options.warmup * 1_000, options.concurrency));
    }
    const sliceMs = (options.seconds * 1_000) / options.rounds;
    for (let round = 0; round < options.rounds; round++) {
      progress(`round ${round + 1}/${options.rounds}: ${(sliceMs / 1_000).toFixed(2)} s per scenario`);
      for (let i = 0; i < active.length; i++) {
        const a = active[(round + i) % active.length] as ActiveScenario;
        const run = await runLoad(callOf(a), sliceMs, options.concurrency, a.recorder);
        a.rounds.push(run);
        account(a, run);
      }
    }
  } finally {
    for (const a of active) {
      a.close();
      await a.running.tearDown(a.calls).then(
        (lines) => notes.push(...lines),
        (err: unknown) => failures.push(err),
      );
    }
  }
  if (failures.length > 0) throw new AggregateError(failures, "tearing scenarios down failed");
  const results = new Map<ScenarioId, ScenarioStats>();
  for (const a of active) {
    results.set(a.scenario.id, statsOf(a.scenario.name, a.rounds, a.recorder.sorted()));
    if (a.errors > 0) {
      notes.push(`${a.scenario.name}: ${a.errors} failed call(s), first: ${ConnectError.from(a.firstError).message}`);
    }
  }
  return { results, notes };
}

function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function main(): Promise<number> {
  const options = parseOptions();
  const logger = createLogger({ service: "bench", level: process.env.LOG_LEVEL ?? "warn" });
  setRootLogger(logger);
  const plan = scenarios(options, logger).filter((s) => options.only?.has(s.id) ?? true);

  // Every step is bounded (calls have deadlines, shutdowns a grace period); this is the backstop.
  const budgetMs = plan.length * (options.seconds + options.warmup + 15) * 1_000 + 30_000;
  setTimeout(() => {
    console.error(`benchmark overran its ${Math.round(budgetMs / 1_000)} s budget; exiting`);
    process.exit(3);
  }, budgetMs).unref();

  const { results, notes } = await measure(plan, options);

  const cpu = cpus();
  console.log(
    [
      `gRPC unary echo, ${PAYLOAD.length}-byte message, concurrency ${options.concurrency} on one HTTP/2 connection, ` +
        `${options.seconds} s per scenario after ${options.warmup} s warm-up, interleaved in ${options.rounds} round(s)`,
      `node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? "unknown CPU"}; ` +
        "servers and clients in this one process, 127.0.0.1",
      "",
      formatTable([...results.values()], results.get("baseline")),
      "",
    ].join("\n"),
  );
  const baseline = results.get("baseline");
  const kit = results.get("kit");
  const full = results.get("full");
  if (baseline && kit) console.log(formatComparison("kit, no interceptors vs baseline", kit, baseline));
  if (baseline && full) console.log(formatComparison("kit, full stack vs baseline", full, baseline));
  if (kit && full) console.log(formatComparison("full stack vs no interceptors", full, kit));
  for (const note of notes) console.log(note);
  const minOnCpu = Math.min(...[...results.values()].map((r) => r.onCpu));
  if (minOnCpu < BUSY_MACHINE_ON_CPU) {
    console.log(
      `warning: the benchmark thread was on CPU only ${Math.round(minOnCpu * 100)}% of the time: ` +
        "something else kept this machine busy, so calls/s and latencies are unreliable (CPU µs/call less so); rerun when it is idle",
    );
  }
  return [...results.values()].some((r) => r.errors > 0) ? 1 : 0;
}

process.exitCode = await main().catch((err: unknown) => {
  console.error("benchmark failed:", err);
  return 1;
});
// Everything was closed; if some handle still keeps the process alive, say so instead of hanging.
setTimeout(() => {
  console.error("benchmark finished but a handle kept the process alive; exiting");
  process.exit(4);
}, 2_000).unref();
