/**
 * The gateway against the real platform (identity, tenancy, projects and audit as processes, the run's
 * PostgreSQL and NATS): one platform for every scenario, to keep the run lean. Each scenario file
 * registers its own describe blocks.
 */
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace";
import { initTelemetry, type Telemetry } from "@tessera/platform/telemetry";
import { startPlatform } from "@tessera/test/harness";
import { afterAll, beforeAll } from "vitest";
import { auditScenarios } from "./scenarios/audit.ts";
import { authScenarios } from "./scenarios/auth.ts";
import { type Env, seedTenant } from "./scenarios/env.ts";
import { isolationScenarios } from "./scenarios/isolation.ts";
import { limitScenarios } from "./scenarios/limits.ts";
import { processScenarios } from "./scenarios/process.ts";
import { readScenarios } from "./scenarios/reads.ts";
import { subscriptionScenarios } from "./scenarios/subscriptions.ts";
import { telemetryScenarios } from "./scenarios/telemetry.ts";
import { writeScenarios } from "./scenarios/writes.ts";
import { rpcCounter, startExtraGateway, startGateway } from "./support.ts";

let env: Env | undefined;
let telemetry: Telemetry | undefined;
const spans = new InMemorySpanExporter();

beforeAll(async () => {
  telemetry = await initTelemetry({ service: "graphql-test", traceExporter: spans, metricsPort: 0 });
  const platform = await startPlatform({ services: ["tenancy", "projects", "audit"] });
  const counter = rpcCounter();
  try {
    const gw = await startGateway(platform, {}, [counter.interceptor]);
    const dev = await startExtraGateway(gw, { GRAPHQL_DEV_MODE: true });
    const [a, b] = await Promise.all([seedTenant(platform, gw), seedTenant(platform, gw)]);
    env = { platform, gw, dev, counter, spans, metricsUrl: telemetry.metricsUrl ?? "", a, b };
  } catch (err) {
    await platform.stop();
    throw err;
  }
}, 240_000);

afterAll(async () => {
  await env?.dev.stop();
  await env?.gw.stop();
  await env?.platform.stop();
  await telemetry?.shutdown();
});

const current = (): Env => {
  if (!env) throw new Error("the platform did not start");
  return env;
};

authScenarios(current);
writeScenarios(current);
readScenarios(current);
auditScenarios(current);
limitScenarios(current);
isolationScenarios(current);
subscriptionScenarios(current);
telemetryScenarios(current);
processScenarios(current);
