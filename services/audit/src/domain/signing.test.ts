import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { auditKeys, checkStatement, HEAD_FORMAT, type HeadStatement, loadSigner, signStatement } from "./signing.ts";

const TENANT = "6f1c2a4e-0b7d-4c3e-9a51-2d8f0e6b7c10";
const pem = () => generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const head = (sequence: number): HeadStatement => ({
  format: HEAD_FORMAT,
  tenant_id: TENANT,
  sequence,
  hash: "ab".repeat(32),
  signed_at: "2030-01-01T00:00:00.000Z",
});

describe("audit signing keys", () => {
  it("keeps verifying the old key's signatures after a rotation, when its public key is listed", () => {
    const oldKey = pem();
    const signedByOld = signStatement(loadSigner(oldKey), head(7));
    const oldJwks = JSON.stringify({ keys: [loadSigner(oldKey).publicKey.export({ format: "jwk" })] });
    const oldPem = loadSigner(oldKey).publicKey.export({ type: "spki", format: "pem" }).toString();

    const newKey = pem();
    const rotated = auditKeys(newKey, oldJwks);
    expect(checkStatement(rotated, signedByOld, HEAD_FORMAT, TENANT)).toMatchObject({ ok: true });
    expect(checkStatement(auditKeys(pem(), oldPem), signedByOld, HEAD_FORMAT, TENANT)).toMatchObject({ ok: true });
    // without it, the old signature is refused by key id
    expect(checkStatement(auditKeys(pem()), signedByOld, HEAD_FORMAT, TENANT)).toEqual({
      ok: false,
      problem: `it is signed with key ${signedByOld.keyId}, which is not trusted`,
    });
    // and new heads are signed with the new key
    expect(signStatement(loadSigner(newKey), head(8)).keyId).not.toBe(signedByOld.keyId);
  });

  it("refuses a changed payload, another tenant's statement and another format", () => {
    const key = pem();
    const keys = auditKeys(key);
    const signed = signStatement(loadSigner(key), head(3));
    const changed = { ...signed, payload: signed.payload.replace('"sequence":3', '"sequence":4') };
    expect(checkStatement(keys, changed, HEAD_FORMAT, TENANT)).toMatchObject({ ok: false, problem: /does not verify/ });
    expect(checkStatement(keys, signed, HEAD_FORMAT, "00000000-0000-0000-0000-000000000001")).toMatchObject({
      ok: false,
      problem: "it is about another tenant",
    });
    expect(checkStatement(keys, signed, "tessera-audit-checkpoint/1", TENANT)).toMatchObject({ ok: false });
  });

  it("reads the key as PKCS#8 PEM or as its base64 seed, with the same key id (SHA-256 of the SPKI, 16 hex)", () => {
    const key = pem();
    const der = loadSigner(key).privateKey.export({ type: "pkcs8", format: "der" });
    const seed = der.subarray(der.length - 32).toString("base64");
    expect(loadSigner(seed).keyId).toBe(loadSigner(key).keyId);
    expect(loadSigner(key).keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(() =>
      loadSigner(
        generateKeyPairSync("ec", { namedCurve: "P-256" })
          .privateKey.export({ type: "pkcs8", format: "pem" })
          .toString(),
      ),
    ).toThrow(/Ed25519/);
  });
});
