import { randomUUID } from "node:crypto";
import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import { type TxEntityManager, withPlatformTransaction, withTenantTransaction } from "@tessera/platform/db";
import { FailedPrecondition, PermissionDenied, ResourceExhausted, Unauthenticated } from "@tessera/platform/errors";
import { type ClientSeen, loginSucceeded } from "../../events/publish.ts";
import { mfaEvent } from "../../events/publish-mfa.ts";
import type { IdentityDeps } from "../deps.ts";
import { accountLockedUntil, ipBlocked, recordIpFailure, resetAccountFailures } from "../lockout.ts";
import { PLATFORM_TENANT_ID, requireEdge } from "../roles.ts";
import { type Session, startSession } from "../sessions.ts";
import { tenantIdBySlug, tenantIsActive } from "../tenants.ts";
import { type MembershipRecord, membershipsOfUser, type UserRecord, userById } from "../users.ts";
import {
  assertionOptions,
  type CeremonyFailure,
  challengeOf,
  parseCredentialJson,
  passkeyRefused,
  verifyAssertion,
} from "./ceremony.ts";
import { newCeremonyChallenge, takeCeremonyChallenge } from "./challenges.ts";
import { lockPasskeyByCredentialId, type PasskeyRecord, recordPasskeyUse } from "./credentials.ts";

const BLOCKED = "too many failed logins from this address: retry later";

/** StartPasskeyLogin: request options with a fresh single-use challenge and no allowCredentials. */
export async function startPasskeyLogin(
  deps: IdentityDeps,
  client: ClientSeen,
): Promise<{ optionsJson: string; expiresAt: Date }> {
  requireEdge("identity.sessions.issue");
  const settings = deps.settings.webauthn;
  return withPlatformTransaction(deps.orm, async (em) => {
    if (await ipBlocked(em, client.ip)) throw new ResourceExhausted(BLOCKED);
    const { challenge, expiresAt } = await newCeremonyChallenge(em, {
      purpose: "passwordless",
      ttlMs: settings.challengeTtlMs,
    });
    return { optionsJson: JSON.stringify(await assertionOptions(settings, [], challenge)), expiresAt };
  });
}

/** FinishPasskeyLogin input (shape-validated by the proto). */
export interface PasskeyLoginInput {
  credentialJson: string;
  tenant: { id: string } | { slug: string } | undefined;
  client: ClientSeen;
}

/** The tenant the session is for: the one named (a member of), the only one, or a platform session. */
async function sessionTenant(
  deps: IdentityDeps,
  user: UserRecord,
  memberships: MembershipRecord[],
  wanted: PasskeyLoginInput["tenant"],
): Promise<{ membership: MembershipRecord | undefined } | undefined> {
  if (wanted !== undefined) {
    const id =
      "id" in wanted
        ? wanted.id.toLowerCase()
        : await withPlatformTransaction(deps.orm, (em) => tenantIdBySlug(em, wanted.slug));
    const membership = memberships.find((m) => m.tenantId === id);
    return membership && { membership };
  }
  const [only, ...more] = memberships;
  if (only && more.length === 0) return { membership: only };
  if (!only) return user.platformRoles.length > 0 ? { membership: undefined } : undefined;
  throw new FailedPrecondition("the user belongs to several tenants: name one", [
    { field: "tenant_id", message: "required when the user belongs to several tenants (or give tenant_slug)" },
  ]);
}

/** A refused passwordless sign-in: counted per client address and audited (thrown once committed). */
async function refuse(
  deps: IdentityDeps,
  em: TxEntityManager,
  reason: CeremonyFailure,
  client: ClientSeen,
  passkey?: PasskeyRecord,
): Promise<{ refused: CeremonyFailure }> {
  await recordIpFailure(em, client.ip, deps.settings.ipLimit);
  await mfaEvent(em, "passkey_assertion_failed", {
    userId: passkey?.userId ?? "",
    factorType: "webauthn",
    failureReason: reason,
    client,
    ...(passkey && { factorId: passkey.id }),
  });
  const log = reason === "counter_regressed" ? deps.logger.warn : deps.logger.info;
  log.call(
    deps.logger,
    { user_id: passkey?.userId ?? null, factor_id: passkey?.id ?? null, reason },
    "passwordless passkey sign-in refused",
  );
  return { refused: reason };
}

/**
 * FinishPasskeyLogin: the challenge is spent first (a replay finds nothing), then the passkey is
 * found by its credential id and the assertion verified (origin, RP id, UV, signature, counter,
 * and that the user handle names the passkey's owner); the user must be enabled and not locked
 * out, the tenant active. Tokens carry amr ["hwk","user"] (acr mfa: a user-verifying passkey is
 * something you have plus something you know or are).
 */
export async function finishPasskeyLogin(deps: IdentityDeps, input: PasskeyLoginInput): Promise<Session> {
  requireEdge("identity.sessions.issue");
  const { client } = input;
  const response = parseCredentialJson<AuthenticationResponseJSON>(input.credentialJson, "credential_json", "get");
  const challenge = challengeOf(response);
  // in its own transaction (the platform tenant's: no tenant is chosen yet, so refusals are audited
  // there): the challenge stays spent whatever follows, and failures stay counted
  const checked = await withTenantTransaction(
    deps.orm,
    async (em) => {
      if (await ipBlocked(em, client.ip)) throw new ResourceExhausted(BLOCKED);
      const taken = challenge !== undefined && (await takeCeremonyChallenge(em, challenge, "passwordless"));
      if (!taken || challenge === undefined) return refuse(deps, em, "challenge", client);
      const passkey = await lockPasskeyByCredentialId(em, response.id);
      if (!passkey) return refuse(deps, em, "unknown_credential", client);
      const handle = response.response.userHandle;
      if (handle && handle !== Buffer.from(passkey.userId.replaceAll("-", ""), "hex").toString("base64url")) {
        return refuse(deps, em, "user_handle_mismatch", client, passkey);
      }
      const verdict = await verifyAssertion(deps.settings.webauthn, response, challenge, passkey);
      if (!verdict.ok) return refuse(deps, em, verdict.reason, client, passkey);
      await recordPasskeyUse(em, passkey.id, verdict);
      const user = await userById(em, passkey.userId);
      const locked = user && (await accountLockedUntil(em, user.id));
      return { user, locked, memberships: user ? await membershipsOfUser(em, user.id) : [] };
    },
    { tenantId: PLATFORM_TENANT_ID },
  );
  if ("refused" in checked) throw passkeyRefused(checked.refused);
  const { user, memberships } = checked;
  if (!user || user.disabled) throw new Unauthenticated("this account cannot sign in");
  if (checked.locked) throw new Unauthenticated("this account is locked after failed sign-ins: retry later");
  const choice = await sessionTenant(deps, user, memberships, input.tenant);
  if (!choice) throw new Unauthenticated("the passkey's user is not a member of that tenant");
  const tenantId = choice.membership?.tenantId;
  const session = await withTenantTransaction(
    deps.orm,
    async (em) => {
      if (tenantId !== undefined && !(await tenantIsActive(em, tenantId))) return undefined;
      await resetAccountFailures(em, user.id);
      const started = await startSession(deps, em, user, choice.membership, randomUUID(), {
        amr: ["hwk", "user"],
        authTime: new Date(),
      });
      await loginSucceeded(em, user.id, client);
      return started;
    },
    { tenantId: tenantId ?? PLATFORM_TENANT_ID },
  );
  if (!session) throw new PermissionDenied("the tenant is not active");
  deps.logger.info({ user_id: user.id, session_tenant_id: tenantId ?? null, amr: "hwk" }, "passkey login succeeded");
  return session;
}
