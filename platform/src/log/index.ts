export { createLogger, type Logger, type LoggerOptions, PLATFORM_TENANT, rootLogger, setRootLogger } from "./logger.ts";
export { REDACT_PATHS, scrubLine } from "./redact.ts";
