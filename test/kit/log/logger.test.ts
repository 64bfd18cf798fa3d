import { runAsTenant, runWithContext } from "@tessera/platform/context";
import { createLogger, PLATFORM_TENANT } from "@tessera/platform/log";
import { captureLogs, registerSecret } from "@tessera/test/harness";
import { describe, expect, it } from "vitest";

const TENANT = "7b0f9a3e-2c4d-4e5f-8a9b-0c1d2e3f4a5b";

function logger(name: string) {
  const logs = captureLogs(name);
  return { log: createLogger({ service: "log-test", destination: logs.stream }), logs };
}

describe("logger", () => {
  it("writes JSON lines with service, tenant_id and request_id from the request context", () => {
    // trace_id/span_id from the active span are covered with a real SDK in test/kit/telemetry
    const { log, logs } = logger("log-context");
    runWithContext({ tenantId: TENANT, requestId: "req-1" }, () => log.info("hello"));
    const [line] = logs.lines();
    expect(line).toMatchObject({
      service: "log-test",
      tenant_id: TENANT,
      request_id: "req-1",
      msg: "hello",
      level: "info",
    });
    expect(typeof line?.time).toBe("string");
  });

  it("marks work outside any tenant with the platform marker", () => {
    const { log, logs } = logger("log-platform");
    log.info("start-up");
    expect(logs.lines()[0]?.tenant_id).toBe(PLATFORM_TENANT);
  });

  it("uses the tenant of runAsTenant for background work", () => {
    const { log, logs } = logger("log-as-tenant");
    runAsTenant(TENANT, () => log.warn("job ran"));
    expect(logs.lines()[0]?.tenant_id).toBe(TENANT);
  });

  it("redacts secret-named fields at any usual depth, and credentials inside messages", () => {
    const { log, logs } = logger("log-redact");
    const jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLWJ5dGVz";
    const password = "correct-horse-battery-staple";
    const apiKey = "tsk_live_abcdefghijklmnop";
    const totp = "JBSWY3DPEHPK3PXP1234";
    registerSecret(password);
    registerSecret(totp);
    log.info(
      {
        password,
        token: jwt,
        headers: { authorization: `Bearer ${jwt}`, cookie: "sid=abcdef123456" },
        user: { apiKey, totpSecret: totp },
        req: { headers: { authorization: `Bearer ${jwt}` } },
      },
      `login attempt with Bearer ${jwt} and key ${apiKey}`,
    );
    const text = logs.text();
    for (const secret of [jwt, password, apiKey, totp, "sid=abcdef123456"]) expect(text).not.toContain(secret);
    expect(text).toContain("[REDACTED]");
  });

  it("keeps CR/LF in user input from starting a new log line", () => {
    const { log, logs } = logger("log-crlf");
    const forged = 'bob\n{"level":"info","msg":"admin logged in","tenant_id":"x"}\r\nmore';
    log.info({ username: forged }, `login failed for ${forged}`);
    const raw = logs.text();
    expect(raw.trimEnd().split("\n")).toHaveLength(1);
    expect(logs.lines()[0]?.username).toBe(forged);
  });

  it("scrubs credentials from logged errors", () => {
    const { log, logs } = logger("log-err");
    const jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLWJ5dGVzLTI";
    log.error({ err: new Error(`upstream rejected Bearer ${jwt}`) }, "call failed");
    expect(logs.text()).not.toContain(jwt);
  });
});
