import { AsyncLocalStorage } from "node:async_hooks";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { type Context, type ContextManager, context, ROOT_CONTEXT, trace } from "@opentelemetry/api";
import { runAsTenant } from "@tessera/platform/context";
import { createLogger } from "@tessera/platform/log";
import { registerSecret } from "@tessera/test/harness";
import { afterEach, describe, expect, inject, it } from "vitest";
import { readSecrets, scanRunDir } from "./scan.ts";

const JWT =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwidGVuYW50IjoiYWNtZSJ9.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A run dir with the given log lines in one file and the given registered secrets. */
function runDirWith(lines: string[], secrets: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), "tessera-scan-"));
  dirs.push(dir);
  mkdirSync(join(dir, "logs"));
  mkdirSync(join(dir, "secrets"));
  writeFileSync(join(dir, "logs", "case-1.ndjson"), lines.map((l) => `${l}\n`).join(""));
  writeFileSync(join(dir, "secrets", "1.ndjson"), secrets.map((s) => `${JSON.stringify(s)}\n`).join(""));
  return dir;
}

const TENANT = "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c";
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const ok = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ level: "info", service: "projects", tenant_id: TENANT, msg: "task created", ...extra });

/** An AsyncLocalStorage context manager (what the telemetry SDK registers), so a span is active in a callback. */
class AlsContextManager implements ContextManager {
  readonly #storage = new AsyncLocalStorage<Context>();
  active = () => this.#storage.getStore() ?? ROOT_CONTEXT;
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ) {
    return this.#storage.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind = <T>(_ctx: Context, target: T): T => target;
  enable = () => this;
  disable = () => this;
}

/** Runs fn with a (remote, sampled) span of trace TRACE active. */
function inSpan<T>(fn: () => T): T {
  context.setGlobalContextManager(new AlsContextManager());
  const span = trace.wrapSpanContext({ traceId: TRACE, spanId: "00f067aa0ba902b7", traceFlags: 1 });
  try {
    return context.with(trace.setSpan(ROOT_CONTEXT, span), fn);
  } finally {
    context.disable();
  }
}

/** Lines exactly as the platform logger writes them. */
function loggerLines(write: (log: ReturnType<typeof createLogger>) => void): string[] {
  let text = "";
  const destination = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  write(createLogger({ service: "scan-test", destination }));
  return text.split("\n").filter((l) => l.length > 0);
}

describe("log scan", () => {
  it("accepts what the platform logger writes, even when handed credentials", () => {
    const lines = loggerLines((log) => {
      log.info("platform start-up");
      inSpan(() => runAsTenant(TENANT, () => log.info({ authorization: `Bearer ${JWT}` }, `verified ${JWT}`)));
    });
    const result = scanRunDir(runDirWith(lines, ["correct horse battery staple"]));
    expect(result.lines).toBe(2);
    expect(result.findings).toEqual([]);
  });

  it("finds a planted JWT and never repeats it in the report", () => {
    const result = scanRunDir(runDirWith([ok(), ok({ msg: `token was ${JWT}` })]));
    expect(result.findings.map((f) => [f.line, f.rule])).toEqual([[2, "jwt"]]);
    expect(result.findings[0]?.excerpt).not.toContain(JWT.split(".")[1]);
  });

  it("finds a Bearer credential but not the word after Bearer in prose", () => {
    const result = scanRunDir(
      runDirWith([ok({ msg: "Bearer authentication failed" }), ok({ header: "Bearer tsk9f8a7d6c5b4a3e2d1" })]),
    );
    expect(result.findings.map((f) => [f.line, f.rule])).toEqual([[2, "bearer"]]);
  });

  it("finds a registered secret, raw or JSON-escaped", () => {
    const quoted = 'pa"ss\\word-42';
    const result = scanRunDir(
      runDirWith([ok({ password: "s3cr3t-value-9" }), ok({ note: quoted }), ok()], ["s3cr3t-value-9", quoted]),
    );
    expect(result.secrets).toBe(2);
    expect(result.findings.map((f) => [f.line, f.rule])).toEqual([
      [1, "registered-secret"],
      [2, "registered-secret"],
    ]);
    expect(result.findings[0]?.excerpt).not.toContain("s3cr3t-value-9");
  });

  it("finds a request line without a trace id, and a tenant_id that is neither a UUID nor the platform marker", () => {
    // the logger gives work inside a request context its trace id even without a tracer
    const lines = loggerLines((log) => runAsTenant(TENANT, () => log.info("handled outside any span")));
    const result = scanRunDir(
      runDirWith([
        ...lines,
        ok({ request_id: "r-1", trace_id: TRACE }),
        ok({ request_id: "r-2", trace_id: "" }),
        ok({ request_id: "r-3", trace_id: "0".repeat(32) }),
        ok({ tenant_id: "acme" }),
        ok({ tenant_id: "-platform-" }),
      ]),
    );
    expect(result.findings.map((f) => [f.line, f.rule])).toEqual([
      [3, "untraced-request"],
      [4, "untraced-request"],
      [5, "bad-tenant"],
    ]);
    expect(JSON.parse(lines[0] as string).trace_id).toMatch(/^[0-9a-f]{32}$/);
  });

  it("finds identity's opaque credentials: API keys, refresh and invitation tokens", () => {
    const key = "tsk_live_0123456789ab_s3cr3tS3cr3tS3cr3t";
    const result = scanRunDir(
      runDirWith([
        ok({ msg: `created ${key}` }),
        ok({ refresh: "tsr_AbCdEfGhIjKlMnOpQrStUvWx" }),
        ok({ msg: "invite tsi_ZyXwVuTsRqPoNmLkJiHgFeDc sent" }),
        ok({ prefix: "tsk_live_0123456789ab" }),
      ]),
    );
    expect(result.findings.map((f) => [f.line, f.rule])).toEqual([
      [1, "credential"],
      [2, "credential"],
      [3, "credential"],
    ]);
    expect(result.findings[0]?.excerpt).not.toContain("s3cr3t");
  });

  it("finds a line without tenant_id and one without service", () => {
    const result = scanRunDir(
      runDirWith([
        JSON.stringify({ service: "projects", msg: "no tenant" }),
        JSON.stringify({ tenant_id: "-platform-", msg: "no service" }),
        JSON.stringify({ service: "projects", tenant_id: "", msg: "empty tenant" }),
      ]),
    );
    expect(result.findings.map((f) => [f.line, f.rule, f.message])).toEqual([
      [1, "missing-field", "no tenant_id (a non-empty string) on the line"],
      [2, "missing-field", "no service (a non-empty string) on the line"],
      [3, "missing-field", "no tenant_id (a non-empty string) on the line"],
    ]);
  });

  it("finds non-JSON lines: plain text, a JSON array, a raw carriage return", () => {
    const result = scanRunDir(runDirWith(["Server listening on :8080", "[1,2]", `${ok()}\rforged`]));
    expect(result.findings.map((f) => [f.line, f.rule])).toEqual([
      [1, "not-json"],
      [2, "not-json"],
      [3, "not-json"],
      [3, "not-json"],
    ]);
  });

  it("reads what the harness's registerSecret writes for this run", () => {
    const secret = registerSecret(`harness-secret-${process.pid}`);
    expect(readSecrets(inject("runDir"))).toContain(secret);
    expect(() => registerSecret("short")).toThrow(/at least 8 characters/);
  });
});
