export { freshDatabase, type TestDatabase } from "./database.ts";
export { type CapturedLogs, captureLogs } from "./logs.ts";
export { registerSecret } from "./secrets.ts";
