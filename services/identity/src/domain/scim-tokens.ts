import { randomBytes, randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { type TxEntityManager, withPlatformTransaction, withTenantTransaction } from "@tessera/platform/db";
import { FailedPrecondition, InvalidArgument, NotFound } from "@tessera/platform/errors";
import { enqueueEvent } from "@tessera/platform/events";
import { ScimTokenEventSchema } from "@tessera/proto/tessera/identity/v1/scim_pb";
import type { IdentityDeps } from "./deps.ts";
import { requireStepUp } from "./mfa/step-up.ts";
import { caller, permissions } from "./roles.ts";
import { randomSecret, sameDigest, sha256Hex } from "./secrets.ts";
import { query, queryOne, setLocal, toDate, toDateOrUndefined } from "./sql.ts";
import { tenantIsActive } from "./tenants.ts";

/** A tenant's SCIM bearer token as admins see it (never the secret). */
export interface ScimTokenRecord {
  id: string;
  tenantId: string;
  prefix: string;
  createdBy: string;
  replacesId: string | undefined;
  createdAt: Date;
  expiresAt: Date | undefined;
  lastUsedAt: Date | undefined;
  revokedAt: Date | undefined;
}

interface TokenRow {
  id: string;
  tenant_id: string;
  prefix: string;
  secret_hash: string;
  created_by: string;
  replaces_id: string | null;
  created_at: unknown;
  expires_at: unknown;
  last_used_at: unknown;
  revoked_at: unknown;
}

const COLUMNS =
  "id, tenant_id, prefix, secret_hash, created_by, replaces_id, created_at, expires_at, last_used_at, revoked_at";
const LIVE = "revoked_at is null and (expires_at is null or expires_at > now())";
const TOKEN = /^tss_scim_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

function fromRow(r: TokenRow): ScimTokenRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    prefix: r.prefix,
    createdBy: r.created_by,
    replacesId: r.replaces_id ?? undefined,
    createdAt: toDate(r.created_at),
    expiresAt: toDateOrUndefined(r.expires_at),
    lastUsedAt: toDateOrUndefined(r.last_used_at),
    revokedAt: toDateOrUndefined(r.revoked_at),
  };
}

/** A new SCIM token: `tss_scim_<12 hex prefix>_<secret>` (the log kit masks `tss_scim_…` anywhere). */
function newScimToken(): { token: string; prefix: string } {
  const prefix = randomBytes(6).toString("hex");
  return { token: `tss_scim_${prefix}_${randomSecret()}`, prefix };
}

/**
 * The tenant a token-management call acts on: the caller's, or for a platform admin (no tenant in
 * the token) the one named. Needs `identity.scim.manage`.
 */
export function scimAdminTenant(requested: string): string {
  permissions.requirePermission("identity.scim.manage");
  const { tenantId } = caller();
  if (tenantId !== undefined) {
    if (requested !== "" && requested.toLowerCase() !== tenantId.toLowerCase()) throw new NotFound("tenant not found");
    return tenantId.toLowerCase();
  }
  if (requested === "") {
    throw new InvalidArgument("tenant_id is required for platform-level callers", [
      { field: "tenant_id", message: "required when the token has no tenant" },
    ]);
  }
  return requested.toLowerCase();
}

function tokenEvent(
  em: TxEntityManager,
  verb: "token_created" | "token_rotated" | "token_revoked",
  t: ScimTokenRecord,
  previousId = "",
) {
  return enqueueEvent(em, {
    type: `scim.${verb}`,
    aggregateId: t.id,
    tenantId: t.tenantId,
    schema: ScimTokenEventSchema,
    payload: create(ScimTokenEventSchema, { tokenId: t.id, prefix: t.prefix, previousTokenId: previousId }),
  });
}

async function insertToken(em: TxEntityManager, tenantId: string, replacesId: string | null) {
  const { token, prefix } = newScimToken();
  const row = await queryOne<TokenRow>(
    em,
    `insert into scim_tokens (id, tenant_id, prefix, secret_hash, created_by, replaces_id)
     values (?, ?, ?, ?, ?, ?) returning ${COLUMNS}`,
    [randomUUID(), tenantId, prefix, sha256Hex(token), caller().principal.subject, replacesId],
  );
  if (!row) throw new Error("insert returned no row");
  return { record: fromRow(row), secret: token };
}

async function liveTokens(em: TxEntityManager, tenantId: string): Promise<TokenRow[]> {
  // the settings row serialises concurrent create/rotate calls of one tenant
  await query(em, "insert into scim_settings (tenant_id) values (?) on conflict do nothing", [tenantId]);
  await query(em, "select 1 from scim_settings where tenant_id = ? for update", [tenantId]);
  return query<TokenRow>(
    em,
    `select ${COLUMNS} from scim_tokens where tenant_id = ? and ${LIVE} order by created_at desc`,
    [tenantId],
  );
}

/** Issues the tenant's SCIM token; FailedPrecondition while it has a live one (rotate instead). */
export async function createScimToken(
  deps: IdentityDeps,
  requestedTenant: string,
): Promise<{ token: ScimTokenRecord; secret: string }> {
  const tenantId = scimAdminTenant(requestedTenant);
  const out = await withTenantTransaction(
    deps.orm,
    async (em) => {
      // a SCIM token provisions members (and, through the mapping, admins): step-up, like API keys
      await requireStepUp(deps, em, caller().principal, tenantId);
      if ((await liveTokens(em, tenantId)).some((t) => t.expires_at === null)) {
        throw new FailedPrecondition("the tenant already has a SCIM token: rotate or revoke it");
      }
      const created = await insertToken(em, tenantId, null);
      await tokenEvent(em, "token_created", created.record);
      return created;
    },
    { tenantId },
  );
  deps.logger.info({ scim_token_id: out.record.id }, "SCIM token created");
  return { token: out.record, secret: out.secret };
}

/**
 * Issues a new token; the current one stays valid until the new one is first used or `overlapMs`
 * has passed, whichever comes first.
 */
export async function rotateScimToken(
  deps: IdentityDeps,
  requestedTenant: string,
  overlapMs: number,
): Promise<{ token: ScimTokenRecord; secret: string; previous: ScimTokenRecord }> {
  const tenantId = scimAdminTenant(requestedTenant);
  const overlap = overlapMs > 0 ? overlapMs : deps.settings.scimRotationOverlapMs;
  const out = await withTenantTransaction(
    deps.orm,
    async (em) => {
      await requireStepUp(deps, em, caller().principal, tenantId);
      const current = (await liveTokens(em, tenantId)).find((t) => t.expires_at === null);
      if (!current) throw new FailedPrecondition("the tenant has no SCIM token to rotate: create one");
      // an older token still in its overlap ends now: at most two tokens are ever valid
      await query(
        em,
        `update scim_tokens set revoked_at = now(), updated_at = now()
         where tenant_id = ? and id <> ? and revoked_at is null`,
        [tenantId, current.id],
      );
      const previous = await queryOne<TokenRow>(
        em,
        `update scim_tokens set expires_at = now() + make_interval(secs => ?), updated_at = now()
         where tenant_id = ? and id = ? returning ${COLUMNS}`,
        [overlap / 1000, tenantId, current.id],
      );
      if (!previous) throw new NotFound("SCIM token not found");
      const created = await insertToken(em, tenantId, current.id);
      await tokenEvent(em, "token_rotated", created.record, current.id);
      return { ...created, previous: fromRow(previous) };
    },
    { tenantId },
  );
  deps.logger.info({ scim_token_id: out.record.id, previous_scim_token_id: out.previous.id }, "SCIM token rotated");
  return { token: out.record, secret: out.secret, previous: out.previous };
}

/** Revokes one of the tenant's tokens at once; another tenant's id is NotFound. */
export async function revokeScimToken(
  deps: IdentityDeps,
  requestedTenant: string,
  id: string,
): Promise<ScimTokenRecord> {
  const tenantId = scimAdminTenant(requestedTenant);
  return withTenantTransaction(
    deps.orm,
    async (em) => {
      const row = await queryOne<TokenRow>(
        em,
        `select ${COLUMNS} from scim_tokens where tenant_id = ? and id = ? for update`,
        [tenantId, id],
      );
      if (!row) throw new NotFound("SCIM token not found");
      if (row.revoked_at !== null) return fromRow(row);
      const updated = await queryOne<TokenRow>(
        em,
        `update scim_tokens set revoked_at = now(), updated_at = now() where tenant_id = ? and id = ? returning ${COLUMNS}`,
        [tenantId, id],
      );
      if (!updated) throw new NotFound("SCIM token not found");
      const token = fromRow(updated);
      await tokenEvent(em, "token_revoked", token);
      deps.logger.info({ scim_token_id: id }, "SCIM token revoked");
      return token;
    },
    { tenantId },
  );
}

/** The tenant's 50 newest tokens. */
export async function listScimTokens(deps: IdentityDeps, requestedTenant: string): Promise<ScimTokenRecord[]> {
  const tenantId = scimAdminTenant(requestedTenant);
  const rows = await withTenantTransaction(
    deps.orm,
    (em) =>
      query<TokenRow>(
        em,
        `select ${COLUMNS} from scim_tokens where tenant_id = ? order by created_at desc, id desc limit 50`,
        [tenantId],
      ),
    { tenantId },
  );
  return rows.map(fromRow);
}

/** Why a presented SCIM token was refused (never told to the caller beyond "invalid" / "inactive"). */
export type ScimTokenCheck =
  | { ok: true; token: ScimTokenRecord }
  | { ok: false; reason: "invalid" | "tenant_inactive" };

/**
 * Checks a presented SCIM token: well-formed, known (looked up across tenants by prefix through
 * the narrow `scim_tokens_by_prefix` policy), matching hash, live, and its tenant active. The first
 * use of a rotated-in token ends the overlap of the one it replaces. No caching: revocation counts
 * from the next request.
 */
export async function verifyScimToken(deps: IdentityDeps, presented: string): Promise<ScimTokenCheck> {
  const prefix = TOKEN.exec(presented)?.[1];
  if (!prefix) return { ok: false, reason: "invalid" };
  const row = await withPlatformTransaction(deps.orm, async (em) => {
    await setLocal(em, "app.scim_token_prefix", prefix);
    return queryOne<TokenRow & { live: boolean }>(
      em,
      `select ${COLUMNS}, (${LIVE}) as live from scim_tokens where prefix = ?`,
      [prefix],
    );
  });
  if (!row || !sameDigest(row.secret_hash, sha256Hex(presented)) || !row.live) return { ok: false, reason: "invalid" };
  const token = fromRow(row);
  const active = await withTenantTransaction(
    deps.orm,
    async (em) => {
      if (!(await tenantIsActive(em, token.tenantId))) return false;
      if (token.lastUsedAt === undefined && token.replacesId) {
        await query(
          em,
          `update scim_tokens set revoked_at = now(), updated_at = now()
           where tenant_id = ? and id = ? and revoked_at is null`,
          [token.tenantId, token.replacesId],
        );
      }
      await query(
        em,
        `update scim_tokens set last_used_at = now() where tenant_id = ? and id = ?
         and (last_used_at is null or last_used_at < now() - interval '1 minute')`,
        [token.tenantId, token.id],
      );
      return true;
    },
    { tenantId: token.tenantId },
  );
  return active ? { ok: true, token } : { ok: false, reason: "tenant_inactive" };
}
