import { describe, expect, it } from "vitest";
import {
  base32Of,
  matchTotp,
  newTotpSecret,
  TOTP_DEFAULTS,
  type TotpAlgorithm,
  totpCode,
  totpStep,
  totpUri,
} from "./totp.ts";

/** RFC 6238 Appendix B: the seeds, the times (s) and the 8-digit codes per algorithm. */
const SEEDS: Record<TotpAlgorithm, string> = {
  SHA1: "12345678901234567890",
  SHA256: "12345678901234567890123456789012",
  SHA512: "1234567890123456789012345678901234567890123456789012345678901234",
};
const VECTORS: [number, Record<TotpAlgorithm, string>][] = [
  [59, { SHA1: "94287082", SHA256: "46119246", SHA512: "90693936" }],
  [1111111109, { SHA1: "07081804", SHA256: "68084774", SHA512: "25091201" }],
  [1111111111, { SHA1: "14050471", SHA256: "67062674", SHA512: "99943326" }],
  [1234567890, { SHA1: "89005924", SHA256: "91819424", SHA512: "93441116" }],
  [2000000000, { SHA1: "69279037", SHA256: "90698825", SHA512: "38618901" }],
  [20000000000, { SHA1: "65353130", SHA256: "77737706", SHA512: "47863826" }],
];

describe("TOTP (RFC 6238)", () => {
  for (const algorithm of ["SHA1", "SHA256", "SHA512"] as const) {
    it(`computes and accepts the RFC 6238 test vectors with ${algorithm}`, () => {
      const secret = new TextEncoder().encode(SEEDS[algorithm]);
      const params = { algorithm, digits: 8, period: 30 };
      for (const [seconds, codes] of VECTORS) {
        const at = seconds * 1000;
        expect(totpCode(secret, params, at)).toBe(codes[algorithm]);
        // the verification path login uses: the code's own step, found with no skew
        expect(matchTotp(secret, codes[algorithm], params, at, 0)).toBe(Math.floor(seconds / 30));
      }
    });
  }

  it("accepts the neighbouring steps (one step of clock skew) and nothing further", () => {
    const secret = newTotpSecret();
    const now = 1_700_000_000_000;
    const step = totpStep(now, TOTP_DEFAULTS);
    for (const offset of [-1, 0, 1]) {
      const code = totpCode(secret, TOTP_DEFAULTS, now + offset * 30_000);
      expect(matchTotp(secret, code, TOTP_DEFAULTS, now)).toBe(step + offset);
    }
    for (const offset of [-2, 2]) {
      const code = totpCode(secret, TOTP_DEFAULTS, now + offset * 30_000);
      expect(matchTotp(secret, code, TOTP_DEFAULTS, now)).toBeUndefined();
    }
  });

  it("refuses codes of the wrong shape without computing anything", () => {
    const secret = newTotpSecret();
    const code = totpCode(secret, TOTP_DEFAULTS, Date.now());
    for (const bad of ["", code.slice(1), `${code}0`, `${code.slice(0, 5)}a`, `${code.slice(0, 5)}\u0000`, " 12345"]) {
      expect(matchTotp(secret, bad, TOTP_DEFAULTS, Date.now())).toBeUndefined();
    }
  });

  it("writes an otpauth:// URI an authenticator app understands", () => {
    const secret = newTotpSecret();
    const uri = new URL(totpUri(secret, TOTP_DEFAULTS, "Tessera", "ada@example.com"));
    expect(uri.protocol).toBe("otpauth:");
    expect(uri.host).toBe("totp");
    expect(decodeURIComponent(uri.pathname)).toBe("/Tessera:ada@example.com");
    expect(uri.searchParams.get("secret")).toBe(base32Of(secret));
    expect(uri.searchParams.get("issuer")).toBe("Tessera");
    expect(uri.searchParams.get("algorithm")).toBe("SHA1");
    expect(uri.searchParams.get("digits")).toBe("6");
    expect(uri.searchParams.get("period")).toBe("30");
    expect(base32Of(secret)).toMatch(/^[A-Z2-7]{32}$/);
  });
});
