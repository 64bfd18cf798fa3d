import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { connect as connectNats } from "@nats-io/transport-node";
import { natsConnectOptions } from "@tessera/platform/events";
import { Health, HealthCheckResponse_ServingStatus } from "@tessera/proto/grpc/health/v1/health_pb";
import pg from "pg";

/** Deadline of a single probe; the wait around it retries until its own deadline. */
const PROBE_TIMEOUT_MS = 2_000;
const RETRY_DELAY_MS = 250;

/** The verdict of waiting for a deployable to become healthy. */
export type HealthVerdict = { healthy: true } | { healthy: false; reason: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * Probes until one succeeds, the deadline passes, or `gaveUp` settles (the process exited): the
 * reason names the last probe error, so "connection refused" and "NOT_SERVING" read differently.
 */
export async function waitUntilHealthy(
  probe: () => Promise<void>,
  timeoutMs: number,
  gaveUp: Promise<string>,
): Promise<HealthVerdict> {
  const deadline = Date.now() + timeoutMs;
  let stopped: string | undefined;
  gaveUp.then((reason) => {
    stopped = reason;
  });
  let last = "no probe ran";
  while (stopped === undefined) {
    try {
      await probe();
      return { healthy: true };
    } catch (err) {
      last = message(err);
    }
    if (Date.now() >= deadline)
      return { healthy: false, reason: `not healthy after ${Math.round(timeoutMs / 1000)} s: ${last}` };
    await Promise.race([sleep(RETRY_DELAY_MS), gaveUp]);
  }
  return { healthy: false, reason: stopped };
}

/** A probe calling `grpc.health.v1.Health/Check` over h2c; call `close` when done probing. */
export function grpcHealthProbe(port: number): { probe: () => Promise<void>; close: () => void } {
  const baseUrl = `http://127.0.0.1:${port}`;
  const sessionManager = new Http2SessionManager(baseUrl);
  const client = createClient(Health, createGrpcTransport({ baseUrl, sessionManager }));
  return {
    probe: async () => {
      const response = await client.check({ service: "" }, { timeoutMs: PROBE_TIMEOUT_MS });
      if (response.status !== HealthCheckResponse_ServingStatus.SERVING) {
        const name = Object.entries(HealthCheckResponse_ServingStatus).find(([, v]) => v === response.status)?.[0];
        throw new Error(`health status ${name ?? response.status}`);
      }
    },
    close: () => sessionManager.abort(),
  };
}

/** A probe expecting `200` from `GET /healthz`. */
export function httpHealthProbe(port: number): () => Promise<void> {
  return async () => {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    await response.body?.cancel();
    if (response.status !== 200) throw new Error(`GET /healthz answered ${response.status}`);
  };
}

/** Runs `select 1` on a PostgreSQL URL; throws a readable error within the deadline. */
export async function checkPostgres(url: string, timeoutMs = 5_000): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("select 1");
  } catch (err) {
    throw new Error(`PostgreSQL at ${redactUrl(url)} is not reachable: ${message(err)}`);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Connects to NATS (as the user the URL names, if any) and closes again; throws a readable error within the deadline. */
export async function checkNats(url: string, timeoutMs = 5_000): Promise<void> {
  try {
    const nc = await connectNats({ ...natsConnectOptions(url, "tessera-up"), timeout: timeoutMs, reconnect: false });
    await nc.close();
  } catch (err) {
    throw new Error(`NATS at ${redactUrl(url)} is not reachable: ${message(err)}`);
  }
}

/** The URL with any password replaced by `***` (for adopted URLs the user may not want printed). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable URL)";
  }
}
