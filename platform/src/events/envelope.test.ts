import { create } from "@bufbuild/protobuf";
import { Outcome } from "@tessera/proto/tessera/common/v1/event_pb";
import { EchoRequestSchema } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { describe, expect, it } from "vitest";
import { InvalidArgument } from "../errors/index.ts";
import { buildEnvelope, type EventOutcome, type NewEvent } from "./envelope.ts";

const TENANT = "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c";
const event = (extra: Partial<NewEvent<typeof EchoRequestSchema>> = {}): NewEvent<typeof EchoRequestSchema> => ({
  type: "user.login_failed",
  tenantId: TENANT,
  aggregateId: "u-1",
  schema: EchoRequestSchema,
  payload: create(EchoRequestSchema, { message: "x" }),
  actor: { kind: "user", id: "u-1" },
  ...extra,
});

describe("envelope outcome and origin (for the audit log)", () => {
  it("leaves them unset unless given, and carries them when given", () => {
    const plain = buildEnvelope(event());
    expect(plain.outcome).toBe(Outcome.UNSPECIFIED);
    expect(plain.origin).toBeUndefined();
    const full = buildEnvelope(
      event({ outcome: "failure", origin: { clientIp: "2001:db8::1", userAgent: `agent ${"x".repeat(600)}` } }),
    );
    expect(full.outcome).toBe(Outcome.FAILURE);
    expect(full.origin?.clientIp).toBe("2001:db8::1");
    expect(full.origin?.userAgent).toHaveLength(512);
    expect(buildEnvelope(event({ outcome: "denied" })).outcome).toBe(Outcome.DENIED);
  });

  it("refuses an unknown outcome and an oversized client address, naming the field", () => {
    const bad = (e: NewEvent<typeof EchoRequestSchema>) => {
      try {
        buildEnvelope(e);
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidArgument);
        return (err as InvalidArgument).message;
      }
      throw new Error("accepted");
    };
    expect(bad(event({ outcome: "maybe" as EventOutcome }))).toContain("outcome");
    expect(bad(event({ origin: { clientIp: "1".repeat(65) } }))).toContain("origin.client_ip");
  });
});
