import { createHash, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseArgs } from "./args.ts";
import { CLI_CLIENT_ID, resolveConnection } from "./connection.ts";
import { digestMatches, loadPublicKey, manifestEntries } from "./export-verify.ts";

const homes: string[] = [];
afterAll(() => {
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

/** A TESSERA_HOME as a running `./tessera up` leaves it. */
function localHome(clients: Record<string, string> = { [CLI_CLIENT_ID]: "cli-secret-from-up-0123456789" }): string {
  const home = mkdtempSync(join(tmpdir(), "tessera-cli-home-"));
  homes.push(home);
  const component = (name: string, port: number) => ({
    name,
    kind: "service",
    url: `http://127.0.0.1:${port}`,
    status: "healthy",
  });
  writeFileSync(
    join(home, "runtime.json"),
    JSON.stringify({ pid: 1, components: [component("tenancy", 50061), component("identity", 50062)] }),
  );
  writeFileSync(join(home, "secrets.json"), JSON.stringify({ clients }));
  return home;
}

const noArgs = parseArgs([], { options: {} });

describe("resolveConnection", () => {
  it("uses the local platform and the tessera-cli credential up seeded when nothing is given", () => {
    expect(resolveConnection(noArgs, {}, localHome())).toEqual({
      tenancyUrl: "http://127.0.0.1:50061",
      credential: {
        kind: "client",
        clientId: "tessera-cli",
        clientSecret: "cli-secret-from-up-0123456789",
        identityUrl: "http://127.0.0.1:50062",
      },
      source: "local",
    });
  });

  it("takes URLs from flags or environment and the credential from the environment only", () => {
    const args = parseArgs(["--tenancy-url", "https://tenancy.example:443"], { options: {} });
    const env = {
      TESSERA_IDENTITY_URL: "https://identity.example:443",
      TESSERA_CLIENT_ID: "ops-cli",
      TESSERA_CLIENT_SECRET: "ops-secret-0123456789",
    };
    const home = mkdtempSync(join(tmpdir(), "tessera-cli-empty-"));
    homes.push(home);
    expect(resolveConnection(args, env, home)).toMatchObject({
      tenancyUrl: "https://tenancy.example:443",
      credential: { kind: "client", clientId: "ops-cli", identityUrl: "https://identity.example:443" },
      source: "explicit",
    });
    expect(
      resolveConnection(noArgs, { TESSERA_TENANCY_URL: "http://10.0.0.5:50061", TESSERA_TOKEN: "a.b.c" }, home),
    ).toEqual({
      tenancyUrl: "http://10.0.0.5:50061",
      credential: { kind: "token", token: "a.b.c" },
      source: "explicit",
    });
  });

  it("never falls back on the local credential for an explicitly named tenancy", () => {
    expect(() => resolveConnection(noArgs, { TESSERA_TENANCY_URL: "http://10.0.0.5:50061" }, localHome())).toThrow(
      /no credential for --tenancy-url/,
    );
  });

  it("names what is missing", () => {
    const empty = mkdtempSync(join(tmpdir(), "tessera-cli-empty-"));
    homes.push(empty);
    expect(() => resolveConnection(noArgs, {}, empty)).toThrow(/no platform to talk to: \.\/tessera up is not running/);
    expect(() => resolveConnection(noArgs, {}, localHome({}))).toThrow(/holds no "tessera-cli" credential: restart/);
    expect(() => resolveConnection(noArgs, { TESSERA_CLIENT_ID: "x" }, localHome())).toThrow(
      /TESSERA_CLIENT_SECRET is not/,
    );
    expect(() =>
      resolveConnection(parseArgs(["--tenancy-url", "tenancy:50061"], { options: {} }), { TESSERA_TOKEN: "t" }, empty),
    ).toThrow(/--tenancy-url must be an http:\/\/ or https:\/\/ URL/);
  });
});

describe("export verification helpers", () => {
  const digest = createHash("sha256").update("rows\n").digest();

  it("accepts a sha256 as hex, base64 or base64url, and nothing else", () => {
    expect(digestMatches(digest.toString("hex").toUpperCase(), digest)).toBe(true);
    expect(digestMatches(`sha256:${digest.toString("base64")}`, digest)).toBe(true);
    expect(digestMatches(digest.toString("base64url"), digest)).toBe(true);
    expect(digestMatches("0".repeat(64), digest)).toBe(false);
  });

  it("reads the files a manifest lists, and nothing from one that lists none", () => {
    expect(manifestEntries('{"files":[{"file":"a.ndjson","sha256":"ab","rows":"3"}]}')).toEqual([
      { name: "a.ndjson", sha256: "ab", rows: 3, bytes: null },
    ]);
    expect(manifestEntries('{"tenant":"x"}')).toBeUndefined();
    expect(manifestEntries("not json")).toBeUndefined();
  });

  it("loads an Ed25519 key as PEM, JWK, JWKS by key id or raw bytes, and refuses others", () => {
    const { publicKey } = generateKeyPairSync("ed25519");
    const jwk = publicKey.export({ format: "jwk" });
    const raw = Buffer.from(jwk.x as string, "base64url").toString("base64");
    const other = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" });
    const forms = [
      publicKey.export({ type: "spki", format: "pem" }) as string,
      JSON.stringify(jwk),
      JSON.stringify({
        keys: [
          { ...other, kid: "old" },
          { ...jwk, kid: "k2" },
        ],
      }),
      raw,
    ];
    for (const form of forms) expect(loadPublicKey(form, "k2").equals(publicKey)).toBe(true);
    expect(() =>
      loadPublicKey(
        JSON.stringify({
          keys: [
            { ...other, kid: "old" },
            { ...jwk, kid: "k2" },
          ],
        }),
        "k3",
      ),
    ).toThrow(/no key with kid "k3"/);
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ type: "spki", format: "pem" });
    expect(() => loadPublicKey(rsa as string, "k2")).toThrow(/rsa, not Ed25519/);
  });
});
