import { describe, expect, it } from "vitest";
import { canonicalJson, canonicalRecord, chainHash, GENESIS_HASH, type RecordFields, storableText } from "./record.ts";

const fields: RecordFields = {
  tenantId: "0b9f6a52-3c1d-4e8f-9a7b-6c5d4e3f2a1b",
  seq: 1,
  eventId: "5b0c7a52-3f6e-4d1a-9c2e-7e1d2f3a4b5c",
  occurredAt: new Date("2030-01-02T03:04:05.678Z"),
  recordedAt: new Date("2030-01-02T03:04:06.000Z"),
  actorKind: "user",
  actorId: "ada",
  action: "user.login_failed",
  targetType: "user",
  targetId: "ada",
  outcome: "failure",
  sourceIp: "192.0.2.1",
  userAgent: 'curl "8"\n',
};

describe("canonical record", () => {
  it("sorts keys at every level and writes no whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: null, y: "é" }], c: true } })).toBe(
      '{"a":{"c":true,"d":[2,{"y":"é","z":null}]},"b":1}',
    );
  });

  it("covers every field, so any change changes the hash", () => {
    const base = chainHash(GENESIS_HASH, fields);
    expect(base.toString("hex")).toBe(chainHash(GENESIS_HASH, { ...fields }).toString("hex"));
    const changes: Partial<RecordFields>[] = [
      { tenantId: "1b9f6a52-3c1d-4e8f-9a7b-6c5d4e3f2a1b" },
      { seq: 2 },
      { eventId: "6b0c7a52-3f6e-4d1a-9c2e-7e1d2f3a4b5c" },
      { occurredAt: new Date("2030-01-02T03:04:05.679Z") },
      { recordedAt: new Date("2030-01-02T03:04:06.001Z") },
      { actorKind: "api_key" },
      { actorId: "bob" },
      { action: "user.login_succeeded" },
      { targetType: "api_key" },
      { targetId: "bob" },
      { outcome: "success" },
      { sourceIp: "" },
      { userAgent: 'curl "8"' },
    ];
    for (const change of changes) {
      expect(chainHash(GENESIS_HASH, { ...fields, ...change }).equals(base), JSON.stringify(change)).toBe(false);
    }
    expect(chainHash(Buffer.alloc(32, 1), fields).equals(base)).toBe(false);
    expect(canonicalRecord(fields)).toContain('"user_agent":"curl \\"8\\"\\n"');
  });

  it("stores text PostgreSQL accepts and hashes the same way back: no NUL, no lone surrogate, bounded", () => {
    expect(storableText("a\u0000b", 10)).toBe("ab");
    expect(storableText("x\uD800y", 10)).toBe("x\uFFFDy");
    expect(storableText("😀😀", 3)).toBe("😀\uFFFD");
  });
});
