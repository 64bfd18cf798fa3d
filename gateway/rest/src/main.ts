import { readFileSync } from "node:fs";
import { loadConfigOrExit } from "@tessera/platform/config";
import { createLogger, setRootLogger } from "@tessera/platform/log";
import { initTelemetry, telemetryOptionsFromEnv } from "@tessera/platform/telemetry";
import { configSchema, SERVICE } from "./config.ts";
import { build } from "./server.ts";
import { wire } from "./wiring.ts";

const config = loadConfigOrExit(SERVICE, configSchema);
const logger = createLogger({ service: SERVICE, level: config.LOG_LEVEL });
setRootLogger(logger);
const version = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: string })
  .version;
const telemetry = await initTelemetry({ ...telemetryOptionsFromEnv(SERVICE, config, version), logger });

const wired = await wire(config, logger);
const app = await build(wired.deps);
await app.listen({ host: config.HOST, port: config.PORT });
const address = app.server.address();
const port = typeof address === "object" && address ? address.port : config.PORT;
logger.info({ port, host: config.HOST, metrics: telemetry.metricsUrl }, "listening");

let stopping = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) {
    logger.warn({ signal }, "already shutting down");
    return;
  }
  stopping = true;
  logger.info({ signal }, "shutting down");
  const forced = setTimeout(() => {
    logger.error({ grace_ms: config.SHUTDOWN_GRACE_MS }, "shutdown grace period over; exiting");
    logger.flush();
    process.exit(1);
  }, config.SHUTDOWN_GRACE_MS);
  forced.unref();
  let code = 0;
  try {
    // stops accepting, lets in-flight requests finish (new ones on kept-alive sockets get 503)
    await app.close();
    await wired.close();
  } catch (err) {
    logger.error({ err }, "shutdown failed");
    code = 1;
  }
  await telemetry.shutdown();
  logger.info("stopped");
  logger.flush();
  process.exit(code);
}
process.on("SIGTERM", (s) => void shutdown(s));
process.on("SIGINT", (s) => void shutdown(s));
