import { describe, expect, it } from "vitest";
import { runEchoMain } from "./support/echo-process.ts";

describe("starting a service with a bad environment", () => {
  it("prints every problem by variable name to stderr, never the values, and exits 1", async () => {
    const run = runEchoMain({
      PORT: "notanumber",
      SHUTDOWN_GRACE_MS: "-5",
      LOG_LEVEL: "loud",
      TLS_CERT_FILE: "/nonexistent/hunter2-cert.pem",
    });
    const exit = await run.exited;
    expect(exit.code).toBe(1);
    const stderr = run.stderr();
    for (const variable of ["PORT", "SHUTDOWN_GRACE_MS", "LOG_LEVEL", "TLS_CERT_FILE", "TLS_KEY_FILE"]) {
      expect(stderr).toContain(variable);
    }
    expect(stderr).not.toMatch(/notanumber|loud|-5\b|hunter2/);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(run.stdout()).not.toContain("listening");
  });

  it("reports an address it cannot bind as one JSON log line and exits 1", async () => {
    // 192.0.2.1 (TEST-NET-1) is never a local address: bind fails, nothing is sent anywhere.
    const run = runEchoMain({ HOST: "192.0.2.1" });
    const exit = await run.exited;
    expect(exit.code).toBe(1);
    const fatal = run.lines().find((l) => l.msg === "cannot start");
    expect(fatal).toMatchObject({ level: "fatal", service: "echo-service" });
    expect(JSON.stringify(fatal)).toContain("192.0.2.1");
    expect(run.stderr()).toBe("");
  });
});
