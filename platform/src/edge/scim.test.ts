import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ScimTokenSchema } from "@tessera/proto/tessera/identity/v1/scim_pb";
import { describe, expect, it } from "vitest";
import { scimGroupProblems, scimTokenState } from "./scim.ts";

describe("scimTokenState", () => {
  const at = (ms: number) => timestampFromDate(new Date(ms));
  const now = Date.parse("2026-01-01T00:00:00Z");

  it("tells the current token from rotated, expired and revoked ones", () => {
    expect(scimTokenState(create(ScimTokenSchema, {}), now)).toBe("active");
    expect(scimTokenState(create(ScimTokenSchema, { expireTime: at(now + 1_000) }), now)).toBe("rotated");
    expect(scimTokenState(create(ScimTokenSchema, { expireTime: at(now) }), now)).toBe("expired");
    // revocation wins: the first use of a successor revokes a token still in its overlap
    expect(scimTokenState(create(ScimTokenSchema, { expireTime: at(now + 1_000), revokeTime: at(now - 1) }), now)).toBe(
      "revoked",
    );
  });
});

describe("scimGroupProblems", () => {
  it("accepts a well-formed mapping", () => {
    expect(scimGroupProblems(["Engineering", "okta-readers", "g".repeat(256)])).toEqual([]);
  });

  it("names the entry that is empty, too long, has control characters or repeats a group", () => {
    expect(scimGroupProblems(["ok", "", " ", "g".repeat(257), "nul\u0000", "tab\t", "OK"])).toEqual([
      { index: 1, message: "must not be empty" },
      { index: 2, message: "must not be empty" },
      { index: 3, message: "at most 256 characters" },
      { index: 4, message: "must not contain control characters" },
      { index: 5, message: "must not contain control characters" },
      { index: 6, message: "names a group already mapped" },
    ]);
  });

  it("refuses more than 100 groups as a whole", () => {
    const groups = Array.from({ length: 101 }, (_, i) => `g${i}`);
    expect(scimGroupProblems(groups)).toEqual([{ index: undefined, message: "at most 100 groups" }]);
  });
});
