/**
 * identity benchmark: a sign-in with TOTP (Login answering an MFA challenge, then VerifyMfa with a
 * code), with password + passkey (Login, then VerifyMfa with a WebAuthn assertion) and with a
 * passkey alone (StartPasskeyLogin, FinishPasskeyLogin) against a password-only Login, measured in
 * the same run and printed as ratios. The password check (argon2id, OWASP cost unless
 * --cheap-argon2) dominates the password sign-ins; the second factor adds a round trip, a challenge
 * row and an AES-GCM unseal + HMAC per TOTP factor, or a ceremony challenge and an ECDSA
 * verification per passkey. Passkey assertions come from a stand-in software authenticator
 * (services/identity/test/soft-authenticator.ts, ES256 in this process): the bench measures the server.
 * Each TOTP code is accepted once per time step, so every MFA sign-in uses its own user (seeded
 * directly, sharing one password hash). Starts its own PostgreSQL and NATS unless DATABASE_URL /
 * NATS_URL point at them. Usage: `node bench/login-mfa.ts [--logins N] [--cheap-argon2] [--smoke]`.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { type TxEntityManager, withTenantTransaction } from "@tessera/platform/db";
import { AuthService } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { insertPendingTotp } from "../services/identity/src/domain/mfa/factors.ts";
import { totpCode } from "../services/identity/src/domain/mfa/totp.ts";
import { insertUser } from "../services/identity/src/domain/users.ts";
import { insertPasskey } from "../services/identity/src/domain/webauthn/credentials.ts";
import { type SoftAuthenticator, softAuthenticator } from "../services/identity/test/soft-authenticator.ts";
import { runIdentityBench } from "./support/identity.ts";
import { LatencyRecorder, percentile } from "./support/load.ts";
import { textTable } from "./support/report.ts";

const { values } = parseArgs({
  options: {
    logins: { type: "string", default: "100" },
    "cheap-argon2": { type: "boolean", default: false },
    smoke: { type: "boolean", default: false },
  },
});
const smoke = values.smoke === true;
const logins = smoke ? 5 : Number(values.logins);
if (!Number.isInteger(logins) || logins < 1) {
  console.error("--logins must be a positive integer");
  process.exit(2);
}
const cheap = smoke || values["cheap-argon2"] === true;
/** The web origin the stand-in authenticator's assertions claim (one of identity's allowed origins). */
const ORIGIN = "http://localhost:4000";
await runIdentityBench(
  {
    label: "login-mfa",
    poolMax: 20,
    env: {
      IDENTITY_IP_MAX_FAILURES_PER_MINUTE: "100000",
      IDENTITY_WEBAUTHN_RP_ID: "localhost",
      IDENTITY_WEBAUTHN_ORIGINS: ORIGIN,
      ...(cheap && { IDENTITY_ARGON2_MEMORY_KIB: "1024", IDENTITY_ARGON2_TIME_COST: "1" }),
    },
  },
  async ({ config, settings, app: { orm }, identity, transport, edgeHeaders }) => {
    // one password hash for every user: seeding N argon2 hashes would only slow the set-up
    const password = randomBytes(16).toString("base64url");
    const passwordHash = await identity.deps.hasher.hash(password);
    const tenantId = randomUUID();
    const insertMember = async (em: TxEntityManager, label: string) => {
      const email = `${label}-${randomBytes(5).toString("hex")}@example.com`;
      const user = await insertUser(em, { email, displayName: label, passwordHash });
      await em.execute(
        "insert into memberships (tenant_id, user_id, role) values (?, ?, 'member')",
        [tenantId, user.id],
        "run",
      );
      return { email, user };
    };
    const seed = (label: string, withTotp: boolean) =>
      withTenantTransaction(
        orm,
        async (em) => {
          const { email, user } = await insertMember(em, label);
          if (!withTotp) return { email, secret: undefined };
          const { factor, secret, params } = await insertPendingTotp(em, settings.keyEncryptionKey, user.id, "bench");
          await em.execute(
            "update mfa_factors set status = 'active', confirmed_at = now() where id = ?",
            [factor.id],
            "run",
          );
          return { email, secret: { bytes: secret, params } };
        },
        { tenantId },
      );
    /** A user whose one factor is a passkey held by a stand-in authenticator (reusable: its counter moves on). */
    const seedPasskey = (label: string) =>
      withTenantTransaction(
        orm,
        async (em) => {
          const { email, user } = await insertMember(em, label);
          const authenticator = softAuthenticator();
          await insertPasskey(em, {
            userId: user.id,
            displayName: "bench",
            credentialId: authenticator.credentialId,
            publicKey: authenticator.cosePublicKey,
            signCount: 0,
            transports: ["internal"],
            aaguid: "00000000-0000-0000-0000-000000000000",
            deviceType: "singleDevice",
            backedUp: false,
          });
          return {
            email,
            authenticator,
            userHandle: Buffer.from(user.id.replaceAll("-", ""), "hex").toString("base64url"),
          };
        },
        { tenantId },
      );
    const plain = await seed("plain", false);
    const keyed: { email: string; authenticator: SoftAuthenticator; userHandle: string } = await seedPasskey("passkey");
    const enrolled: Awaited<ReturnType<typeof seed>>[] = [];
    for (let i = 0; i < logins; i++) enrolled.push(await seed("mfa", true));

    const headers = await edgeHeaders(["identity"]);
    const auth = createClient(AuthService, transport);
    const client = { ip: "127.0.0.1", userAgent: "bench" };

    const passwordOnly = async () => {
      const res = await auth.login({ email: plain.email, password, client }, { headers, timeoutMs: 30_000 });
      if (!res.tokens) throw new Error("password-only login answered no tokens");
    };
    let next = 0;
    const withTotp = async () => {
      const user = enrolled[next++ % enrolled.length];
      if (!user?.secret) throw new Error("no enrolled user");
      const res = await auth.login({ email: user.email, password, client }, { headers, timeoutMs: 30_000 });
      const challengeToken = res.mfaChallenge?.challengeToken;
      if (!challengeToken) throw new Error("login answered no MFA challenge");
      const code = totpCode(user.secret.bytes, user.secret.params, Date.now());
      const done = await auth.verifyMfa(
        { challengeToken, code: { case: "totpCode", value: code }, client },
        { headers, timeoutMs: 30_000 },
      );
      if (!done.tokens) throw new Error("VerifyMfa answered no tokens");
    };

    const withPasskey = async () => {
      const res = await auth.login({ email: keyed.email, password, client }, { headers, timeoutMs: 30_000 });
      const challenge = res.mfaChallenge;
      if (!challenge?.webauthnOptionsJson) throw new Error("login answered no passkey challenge");
      const assertion = keyed.authenticator.assert(challenge.webauthnOptionsJson, ORIGIN);
      const done = await auth.verifyMfa(
        { challengeToken: challenge.challengeToken, code: { case: "webauthnAssertionJson", value: assertion }, client },
        { headers, timeoutMs: 30_000 },
      );
      if (!done.tokens) throw new Error("VerifyMfa answered no tokens");
    };
    const passwordless = async () => {
      const start = await auth.startPasskeyLogin({ client }, { headers, timeoutMs: 30_000 });
      const assertion = keyed.authenticator.assert(start.optionsJson, ORIGIN, keyed.userHandle);
      const done = await auth.finishPasskeyLogin({ credentialJson: assertion, client }, { headers, timeoutMs: 30_000 });
      if (!done.tokens) throw new Error("FinishPasskeyLogin answered no tokens");
    };

    // sequential, alternating (so drift in the machine's load hits all alike): one sign-in at a time
    const kinds = ["password", "totp", "passkey", "passwordless"] as const;
    type Kind = (typeof kinds)[number];
    const recorders = Object.fromEntries(kinds.map((k) => [k, new LatencyRecorder()])) as Record<Kind, LatencyRecorder>;
    const elapsed = Object.fromEntries(kinds.map((k) => [k, 0])) as Record<Kind, number>;
    await passwordOnly(); // warm-up (connections, prepared statements)
    await passwordless();
    for (let i = 0; i < logins; i++) {
      for (const [name, run] of [
        ["password", passwordOnly],
        ["totp", withTotp],
        ["passkey", withPasskey],
        ["passwordless", passwordless],
      ] as const) {
        const t0 = performance.now();
        await run();
        const ms = performance.now() - t0;
        recorders[name].add(ms * 1e6);
        elapsed[name] += ms;
      }
    }
    const row = (name: string, key: Kind) => {
      const sorted = recorders[key].sorted();
      return {
        name,
        perSec: (logins / elapsed[key]) * 1000,
        p50: percentile(sorted, 0.5) / 1e6,
        p95: percentile(sorted, 0.95) / 1e6,
      };
    };
    const base = row("password only (Login)", "password");
    const mfa = row("password + TOTP (Login, VerifyMfa)", "totp");
    const hwk = row("password + passkey (Login, VerifyMfa)", "passkey");
    const alone = row("passkey only (StartPasskeyLogin, FinishPasskeyLogin)", "passwordless");
    const cells = [base, mfa, hwk, alone].map((r) => [
      r.name,
      r.perSec.toFixed(1),
      r.p50.toFixed(2),
      r.p95.toFixed(2),
      `${(r.p50 / base.p50).toFixed(2)}x`,
    ]);
    if (smoke) console.log("SMOKE RUN: tiny counts, numbers mean nothing");
    console.log(
      `login with TOTP or a passkey vs password only: ${logins} sign-ins each, one at a time, argon2id m=${config.IDENTITY_ARGON2_MEMORY_KIB} t=${config.IDENTITY_ARGON2_TIME_COST}, client and server in one process`,
    );
    console.log(
      "passkey assertions: a stand-in software authenticator (ES256, node:crypto) in this process, not a browser or device: the numbers are the server's",
    );
    console.log(textTable(["sign-in", "per s", "p50 ms", "p95 ms", "p50 vs password"], cells));
    console.log(`TOTP sign-in costs ${(mfa.p50 / base.p50).toFixed(2)}x a password-only one (p50)`);
    console.log(
      `password + passkey costs ${(hwk.p50 / base.p50).toFixed(2)}x, a passkey alone ${(alone.p50 / base.p50).toFixed(2)}x a password-only sign-in (p50)`,
    );
  },
);
