/**
 * One trace from an HTTP request at the REST edge through projects' gRPC API, its outbox relay,
 * NATS and audit's consumer — every hop a real process (identity and tenancy from the harness;
 * projects, audit and the REST edge started here), each exporting its spans over OTLP/HTTP to a
 * collector this test runs on 127.0.0.1.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import {
  type ApiKeySeed,
  type RunningService,
  runMain,
  type ServiceDatabase,
  serviceDatabase,
  startMain,
  startPlatform,
  stopMain,
  type TestPlatform,
} from "@tessera/test/harness";
import { afterAll, beforeAll, expect, it, vi } from "vitest";

const root = new URL("../../", import.meta.url).pathname;

/** A span as OTLP/JSON carries it (ids in hex). */
interface OtlpSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
}
const KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;

const collected: OtlpSpan[] = [];
let collector: Server;
let platform: TestPlatform;
const dbs: ServiceDatabase[] = [];
const processes: RunningService[] = [];
let edgeUrl = "";
let key: ApiKeySeed;

/** The OTLP/HTTP traces endpoint: JSON bodies (the kit's exporter), optionally gzipped. */
function startCollector(): Promise<string> {
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        let body = Buffer.concat(chunks);
        if (req.headers["content-encoding"] === "gzip") body = gunzipSync(body);
        const doc = JSON.parse(body.toString("utf8")) as {
          resourceSpans?: Array<{
            resource?: { attributes?: Array<{ key: string; value: { stringValue?: string } }> };
            scopeSpans?: Array<{ spans?: Array<Omit<OtlpSpan, "service">> }>;
          }>;
        };
        for (const rs of doc.resourceSpans ?? []) {
          const service = rs.resource?.attributes?.find((a) => a.key === "service.name")?.value.stringValue ?? "";
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              collected.push({
                service,
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId ?? "",
                name: s.name,
                kind: s.kind,
              });
            }
          }
        }
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  return new Promise((resolve) =>
    collector.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(collector.address() as AddressInfo).port}`)),
  );
}

async function migrated(service: string): Promise<ServiceDatabase> {
  const db = await serviceDatabase(`tr_${service.slice(0, 5)}`);
  dbs.push(db);
  const run = runMain(
    `${root}services/${service}/src/migrate.ts`,
    { MIGRATION_DATABASE_URL: db.ownerUrl, DATABASE_APP_ROLE: db.roles.app },
    `trace-${service}-migrate`,
  );
  const { code } = await run.exited;
  if (code !== 0) throw new Error(`${service} migrate failed: ${run.stderr()}${run.stdout()}`);
  return db;
}

beforeAll(async () => {
  const otlp = await startCollector();
  // the harness's projects and audit have no OTLP endpoint: the traced ones are started below
  platform = await startPlatform({
    services: ["tenancy", "projects", "audit"],
    clients: [{ id: "rest", roles: ["edge", "service"] }],
  });
  const telemetry = { OTEL_EXPORTER_OTLP_ENDPOINT: otlp, OTEL_BSP_SCHEDULE_DELAY: "200", METRICS_PORT: "0" };
  const common = {
    PORT: "0",
    AUTH_JWKS_URL: platform.jwksUrl,
    AUTH_ISSUER: platform.issuer,
    NATS_URL: platform.natsUrl,
    IDENTITY_URL: platform.identity.url,
    TENANCY_URL: platform.services.tenancy?.url ?? "",
    ...telemetry,
  };
  const [projectsDb, auditDb] = await Promise.all([migrated("projects"), migrated("audit")]);
  const start = async (path: string, env: Record<string, string>, logName: string) => {
    const svc = await startMain(`${root}${path}`, env, { logName });
    processes.push(svc);
    return svc;
  };
  const projects = await start(
    "services/projects/src/main.ts",
    {
      ...common,
      DATABASE_URL: projectsDb.appUrl,
      OUTBOX_RELAY_DATABASE_URL: projectsDb.ownerUrl,
      SERVICE_CLIENT_ID: "projects",
      SERVICE_CLIENT_SECRET: platform.clients.projects?.secret ?? "",
    },
    "trace-projects",
  );
  await start(
    "services/audit/src/main.ts",
    {
      ...common,
      DATABASE_URL: auditDb.appUrl,
      OUTBOX_RELAY_DATABASE_URL: auditDb.ownerUrl,
      SERVICE_CLIENT_ID: "audit",
      SERVICE_CLIENT_SECRET: platform.clients.audit?.secret ?? "",
      AUDIT_CONSUMER_NAME: `audit_trace_${randomUUID().slice(0, 8)}`,
      AUDIT_RETENTION_ENABLED: "false",
    },
    "trace-audit",
  );
  const edge = await start(
    "gateway/rest/src/main.ts",
    {
      ...platform.gatewayEnv("rest"),
      ...telemetry,
      PORT: "0",
      PROJECTS_URL: projects.url,
      IDEMPOTENCY_BUCKET: `rest_idem_${randomUUID().slice(0, 8)}`,
      RATE_LIMIT_ENABLED: "false",
    },
    "trace-rest-gateway",
  );
  edgeUrl = edge.url;
  const tenant = await platform.seed.tenant();
  key = await tenant.apiKey("admin", ["projects.write", "projects.read"]);
}, 180_000);

afterAll(async () => {
  for (const p of processes.reverse()) await stopMain(p).catch(() => undefined);
  await platform?.stop();
  for (const db of dbs) await db.drop().catch(() => undefined);
  await new Promise<void>((resolve) => (collector ? collector.close(() => resolve()) : resolve()));
});

it("keeps one trace from an HTTP request at the REST edge through gRPC, the outbox relay and NATS into audit", async () => {
  const traceId = randomBytes(16).toString("hex");
  const callerSpanId = randomBytes(8).toString("hex");
  const res = await fetch(`${edgeUrl}/v1/projects`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-api-key": key.key,
      traceparent: `00-${traceId}-${callerSpanId}-01`,
    },
    body: JSON.stringify({ name: "Traced", key: `T${randomBytes(4).toString("hex").toUpperCase()}` }),
    signal: AbortSignal.timeout(15_000),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  const projectId = ((await res.json()) as { id: string }).id;

  const inTrace = () => collected.filter((s) => s.traceId === traceId);
  const find = (name: string, kind: number, parent?: OtlpSpan) =>
    inTrace().find(
      (s) => s.name === name && s.kind === kind && (parent === undefined || s.parentSpanId === parent.spanId),
    );
  // each process exports in its own batches: wait until every span of the chain has arrived
  const { edgeServer, hop, projectsServer, publish, consumed } = await vi.waitFor(
    () => {
      const edgeServer = find("POST /v1/projects", KIND.SERVER);
      const hop = find("tessera.projects.v1.ProjectService/CreateProject", KIND.CLIENT, edgeServer);
      const projectsServer = find("tessera.projects.v1.ProjectService/CreateProject", KIND.SERVER, hop);
      const publish = find("publish project.created", KIND.PRODUCER, projectsServer);
      const consumed = find("process project.created", KIND.CONSUMER, publish);
      const chain = { edgeServer, hop, projectsServer, publish, consumed };
      for (const [name, span] of Object.entries(chain)) {
        if (!span)
          throw new Error(`no ${name} span in ${JSON.stringify(inTrace().map((x) => [x.service, x.name, x.kind]))}`);
      }
      return chain as { [K in keyof typeof chain]: OtlpSpan };
    },
    { timeout: 30_000, interval: 200 },
  );

  // the edge continued the caller's trace, and every hop ran in the process it belongs to
  expect(edgeServer.parentSpanId).toBe(callerSpanId);
  expect(consumed.parentSpanId).toBe(publish.spanId);
  expect(hop.parentSpanId).toBe(edgeServer.spanId);
  expect([edgeServer, hop, projectsServer, publish, consumed].map((s) => s.service)).toEqual([
    "rest-gateway",
    "rest-gateway",
    "projects",
    "projects",
    "audit",
  ]);
  expect(projectId).toMatch(/^[0-9a-f-]{36}$/);
});
