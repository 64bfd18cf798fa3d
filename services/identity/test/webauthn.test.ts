/**
 * Passkeys at identity's contract (in-process, gRPC), with a stand-in software authenticator:
 * configuration checks, passwordless and second-factor sign-in, and the refusals that must be
 * clear and never INTERNAL (malformed JSON, wrong origin, replay, counter going backwards, another
 * user's passkey ids). The browser path is test/e2e/identity/passkeys-browser.test.ts.
 */
import { Code, type ConnectError } from "@connectrpc/connect";
import { ConfigError, parseConfig } from "@tessera/platform/config";
import { withPlatformTransaction } from "@tessera/platform/db";
import { ErrorInfoSchema } from "@tessera/proto/google/rpc/error_details_pb";
import { FactorType } from "@tessera/proto/tessera/identity/v1/mfa_pb";
import { PasskeyService } from "@tessera/proto/tessera/identity/v1/webauthn_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { identityEnv } from "../src/config.ts";
import { insertPasskey } from "../src/domain/webauthn/credentials.ts";
import { claimsOf, internalToken, loginAs, ownerSql, refusedWith } from "./mfa-support.ts";
import { type SoftAuthenticator, softAuthenticator } from "./soft-authenticator.ts";
import {
  CLIENT,
  collectEvents,
  type Identity,
  type Person,
  Role,
  type SeededTenant,
  startIdentity,
} from "./support.ts";

const ORIGIN = "http://localhost:4000";

describe("identity passkeys (WebAuthn)", () => {
  let id: Identity;
  let tenant: SeededTenant;

  beforeAll(async () => {
    id = await startIdentity("webauthn", { IDENTITY_WEBAUTHN_RP_ID: "localhost", IDENTITY_WEBAUTHN_ORIGINS: ORIGIN });
    tenant = await id.seedTenant();
  }, 60_000);
  afterAll(async () => id?.stop());

  /** A member with a passkey held by a stand-in authenticator (stored as registration would). */
  async function withPasskey(): Promise<{ person: Person; key: SoftAuthenticator; factorId: string; handle: string }> {
    const person = await id.addMember(tenant, Role.MEMBER);
    const key = softAuthenticator();
    const stored = await withPlatformTransaction(id.built.deps.orm, (em) =>
      insertPasskey(em, {
        userId: person.userId,
        displayName: "key",
        credentialId: key.credentialId,
        publicKey: key.cosePublicKey,
        signCount: 0,
        transports: ["internal"],
        aaguid: "00000000-0000-0000-0000-000000000000",
        deviceType: "singleDevice",
        backedUp: false,
      }),
    );
    const handle = Buffer.from(person.userId.replaceAll("-", ""), "hex").toString("base64url");
    return { person, key, factorId: stored.id, handle };
  }
  const start = async () => (await id.auth()).startPasskeyLogin({ client: CLIENT });
  const finish = async (credentialJson: string) =>
    (await id.auth()).finishPasskeyLogin({ credentialJson, client: CLIENT });
  const failureOf = (e: ConnectError) =>
    e.findDetails(ErrorInfoSchema).find((i) => i.reason === "PASSKEY_REFUSED")?.metadata.failure;

  it("refuses origins outside the RP id, with paths, or plain http off localhost, naming the variable", () => {
    for (const origins of ["https://evil.example", "http://localhost:4000/app", "http://app.example.com"]) {
      try {
        parseConfig("identity", identityEnv, {
          DATABASE_URL: "postgres://x@127.0.0.1/x",
          OUTBOX_RELAY_DATABASE_URL: "postgres://x@127.0.0.1/x",
          NATS_URL: "nats://127.0.0.1:4222",
          IDENTITY_KEY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString("base64"),
          IDENTITY_WEBAUTHN_RP_ID: "example.com",
          IDENTITY_WEBAUTHN_ORIGINS: origins,
        });
        expect.fail(`accepted ${origins}`);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).problems.map((p) => p.variable.split(".")[0])).toContain(
          "IDENTITY_WEBAUTHN_ORIGINS",
        );
      }
    }
  });

  it("signs in without a password (amr hwk,user; acr mfa); a replay, a foreign origin and malformed JSON are refused clearly", async () => {
    const { person, key, handle } = await withPasskey();
    const { tokens } = await finish(key.assert((await start()).optionsJson, ORIGIN, handle));
    expect(tokens?.userId).toBe(person.userId);
    expect(await claimsOf(id, tokens?.accessToken ?? "")).toMatchObject({
      amr: ["hwk", "user"],
      acr: "urn:tessera:acr:mfa",
    });

    const options = (await start()).optionsJson;
    expect(JSON.parse(options)).toMatchObject({
      rpId: "localhost",
      userVerification: "required",
      allowCredentials: [],
    });
    const once = key.assert(options, ORIGIN, handle);
    await finish(once);
    const replay = await refusedWith(finish(once), Code.Unauthenticated);
    expect(failureOf(replay)).toBe("challenge");

    const foreign = await refusedWith(
      finish(key.assert((await start()).optionsJson, "https://evil.example", handle)),
      Code.Unauthenticated,
    );
    expect(failureOf(foreign)).toBe("wrong_origin");
    expect(foreign.rawMessage).toMatch(/origin/);

    const malformed = await refusedWith(finish("{not json"), Code.InvalidArgument);
    expect(malformed.rawMessage).toMatch(/credential_json is not a WebAuthn credential/);
    await refusedWith(
      finish(JSON.stringify({ type: "public-key", id: "x", rawId: "y", response: {} })),
      Code.InvalidArgument,
    );
  });

  it("refuses a counter that goes backwards and audits it; the genuine authenticator keeps working", async () => {
    const events = collectEvents(id.nats, "tessera.evt.*.mfa.passkey_assertion_failed");
    const { key, handle } = await withPasskey();
    for (let i = 0; i < 3; i++) await finish(key.assert((await start()).optionsJson, ORIGIN, handle));
    key.setCounter(1);
    const cloned = await refusedWith(
      finish(key.assert((await start()).optionsJson, ORIGIN, handle)),
      Code.Unauthenticated,
    );
    expect(failureOf(cloned)).toBe("counter_regressed");
    await events.waitFor((s) => s.length > 0);
    events.stop();
    key.setCounter(10);
    await finish(key.assert((await start()).optionsJson, ORIGIN, handle));
  });

  it("answers a login's MFA challenge with a passkey (amr pwd,hwk,user); another user's passkey is not this user's", async () => {
    const { person, key } = await withPasskey();
    const stranger = await withPasskey();
    const login = async () => {
      const res = await loginAs(id, person.email, person.password);
      expect(res.mfaChallenge?.factors).toEqual([FactorType.WEBAUTHN]);
      const options = JSON.parse(res.mfaChallenge?.webauthnOptionsJson ?? "{}") as {
        allowCredentials: Array<{ id: string }>;
      };
      expect(options.allowCredentials.map((c) => c.id)).toEqual([key.credentialId]);
      return res.mfaChallenge;
    };
    const verify = async (challengeToken: string, value: string) =>
      (await id.auth()).verifyMfa({ challengeToken, code: { case: "webauthnAssertionJson", value }, client: CLIENT });

    const first = await login();
    const theirs = await refusedWith(
      verify(first?.challengeToken ?? "", stranger.key.assert(first?.webauthnOptionsJson ?? "", ORIGIN)),
      Code.Unauthenticated,
    );
    expect(failureOf(theirs)).toBe("unknown_credential");
    const failures = await ownerSql<{ failed_count: number }>(
      id,
      "select failed_count from account_lockouts where user_id = $1",
      [person.userId],
    );
    expect(failures[0]?.failed_count).toBe(1);

    const second = await login();
    const { tokens } = await verify(
      second?.challengeToken ?? "",
      key.assert(second?.webauthnOptionsJson ?? "", ORIGIN),
    );
    expect(await claimsOf(id, tokens?.accessToken ?? "")).toMatchObject({
      amr: ["pwd", "hwk", "user"],
      acr: "urn:tessera:acr:mfa",
    });
  });

  it("lists, renames and removes only the caller's own passkeys (another user's ids are NOT_FOUND)", async () => {
    const mine = await withPasskey();
    const other = await withPasskey();
    // a passkey sign-in is a recent multi-factor one: step-up is satisfied
    const { tokens } = await finish(mine.key.assert((await start()).optionsJson, ORIGIN, mine.handle));
    const passkeys = id.client(PasskeyService, await internalToken(id, tokens));
    const listed = await passkeys.listPasskeys({});
    expect(listed.passkeys.map((p) => [p.id, p.credentialId])).toEqual([[mine.factorId, mine.key.credentialId]]);
    await refusedWith(passkeys.renamePasskey({ passkeyId: other.factorId, displayName: "mine now" }), Code.NotFound);
    await refusedWith(passkeys.removePasskey({ passkeyId: other.factorId }), Code.NotFound);
    await refusedWith(passkeys.renamePasskey({ passkeyId: mine.factorId, displayName: "" }), Code.InvalidArgument);
    expect(
      (await passkeys.renamePasskey({ passkeyId: mine.factorId, displayName: "Desk key" })).passkey?.displayName,
    ).toBe("Desk key");
    await passkeys.removePasskey({ passkeyId: mine.factorId });
    expect((await passkeys.listPasskeys({})).passkeys).toEqual([]);
    const gone = await refusedWith(
      finish(mine.key.assert((await start()).optionsJson, ORIGIN, mine.handle)),
      Code.Unauthenticated,
    );
    expect(failureOf(gone)).toBe("unknown_credential");
  });
});
