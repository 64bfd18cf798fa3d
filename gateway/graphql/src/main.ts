import type { AddressInfo } from "node:net";
import { loadConfigOrExit } from "@tessera/platform/config";
import { createLogger, setRootLogger } from "@tessera/platform/log";
import { initTelemetry, telemetryOptionsFromEnv } from "@tessera/platform/telemetry";
import { configSchema } from "./config.ts";
import { connectDeps } from "./deps.ts";
import { build, SERVICE } from "./server.ts";

const config = loadConfigOrExit(SERVICE, configSchema);
const logger = createLogger({ service: SERVICE, level: config.LOG_LEVEL });
setRootLogger(logger);
const telemetry = await initTelemetry({ ...telemetryOptionsFromEnv(SERVICE, config), logger });
const deps = await connectDeps(config, { logger });
const gateway = build(deps);

await new Promise<void>((resolve, reject) => {
  gateway.server.once("error", reject);
  gateway.server.listen({ port: config.PORT, host: config.HOST }, () => {
    gateway.server.off("error", reject);
    resolve();
  });
});
const { port } = gateway.server.address() as AddressInfo;
logger.info({ port, host: config.HOST, metrics: telemetry.metricsUrl, dev_mode: config.GRAPHQL_DEV_MODE }, "listening");

let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  if (stopping) {
    logger.warn({ signal }, "already shutting down");
    return;
  }
  stopping = true;
  logger.info({ signal }, "shutdown requested");
  (async () => {
    const { forced } = await gateway.shutdown();
    await deps.close();
    await telemetry.shutdown();
    logger.info({ forced }, "stopped");
    return forced ? 1 : 0;
  })().then(
    (code) => {
      logger.flush();
      process.exit(code);
    },
    (err: unknown) => {
      logger.error({ err }, "shutdown failed");
      logger.flush();
      process.exit(1);
    },
  );
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
