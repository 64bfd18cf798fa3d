import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
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

const ok = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ level: "info", service: "projects", tenant_id: "acme", msg: "task created", ...extra });

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
      runAsTenant("acme", () => log.info({ authorization: `Bearer ${JWT}` }, `verified ${JWT}`));
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
