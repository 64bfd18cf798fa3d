import { ConfigError, env, parseConfig, z } from "@tessera/platform/config";
import { describe, expect, it } from "vitest";

const schema = z.object({
  PORT: env.port(8080),
  DATABASE_URL: env.postgresUrl(),
  NATS_URL: env.natsUrl(),
  SHUTDOWN_GRACE_MS: env.durationMs(10_000),
});

describe("parseConfig", () => {
  it("applies defaults and coerces numbers", () => {
    const cfg = parseConfig("svc", schema, { DATABASE_URL: "postgres://x/y", NATS_URL: "nats://127.0.0.1:4222" });
    expect(cfg).toEqual({
      PORT: 8080,
      DATABASE_URL: "postgres://x/y",
      NATS_URL: "nats://127.0.0.1:4222",
      SHUTDOWN_GRACE_MS: 10_000,
    });
  });

  it("reports every problem at once, by variable name, without echoing values", () => {
    let caught: unknown;
    try {
      parseConfig("svc", schema, {
        PORT: "99999",
        DATABASE_URL: "mysql://secret-password@host",
        SHUTDOWN_GRACE_MS: "-1",
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems.map((p) => p.variable).sort();
    expect(problems).toEqual(["DATABASE_URL", "NATS_URL", "PORT", "SHUTDOWN_GRACE_MS"]);
    expect((caught as ConfigError).message).not.toContain("secret-password");
  });
});
