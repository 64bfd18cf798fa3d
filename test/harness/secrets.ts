import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";

/** Shorter values would match ordinary words in log lines and make the scan cry wolf. */
const MIN_SECRET_LENGTH = 8;

/**
 * Registers a value that must never appear in any log line of this test run (a password, an API
 * key, a signing key...). The `./tessera test` log scan fails the run if one does. Returns the
 * value, so a test can write `const password = registerSecret("...")`.
 */
export function registerSecret<T extends string>(value: T): T {
  if (typeof value !== "string" || value.length < MIN_SECRET_LENGTH)
    throw new Error(`registerSecret: a secret must be a string of at least ${MIN_SECRET_LENGTH} characters`);
  const dir = join(inject("runDir"), "secrets");
  mkdirSync(dir, { recursive: true });
  // One JSON string per line, so values with newlines or quotes survive intact.
  appendFileSync(join(dir, `${process.pid}.ndjson`), `${JSON.stringify(value)}\n`);
  return value;
}
