import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { inject } from "vitest";

export interface CapturedLogs {
  /** A stream to hand to createLogger({ destination }). */
  stream: Writable;
  /** Parsed JSON lines written so far. */
  lines(): Array<Record<string, unknown>>;
  /** Raw text written so far. */
  text(): string;
}

/**
 * Captures a logger's output for assertions, and appends it to the run's log folder so the
 * whole-run log scan (test/log-scan) sees every line every test produced.
 */
export function captureLogs(name: string): CapturedLogs {
  const dir = join(inject("runDir"), "logs");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${process.pid}.ndjson`);
  let buffer = "";
  const stream = new Writable({
    write(chunk, _enc, cb) {
      const text = chunk.toString();
      buffer += text;
      appendFileSync(file, text);
      cb();
    },
  });
  return {
    stream,
    text: () => buffer,
    lines: () =>
      buffer
        .split("\n")
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
