import { randomUUID } from "node:crypto";
import { type TxEntityManager, withPlatformTransaction, withTenantTransaction } from "@tessera/platform/db";
import { InvalidArgument, NotFound, PermissionDenied } from "@tessera/platform/errors";
import { apiKeyChanged } from "../events/publish.ts";
import type { IdentityDeps } from "./deps.ts";
import { requireStepUp } from "./mfa/step-up.ts";
import { type Cursor, decodeCursor, nextPageToken, type PageInput, pageSize } from "./paging.ts";
import { atLeast, callerTenant, highestRole, permissions, type TenantRole } from "./roles.ts";
import { apiKeyPrefix, newApiKey, sameDigest, sha256Hex } from "./secrets.ts";
import { pgArray, query, queryOne, setLocal, toDate, toDateOrUndefined } from "./sql.ts";

/** An API key as tenant admins see it (never the secret). */
export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  prefix: string;
  displayName: string;
  role: TenantRole;
  scopes: string[];
  createdBy: string;
  createdAt: Date;
  expiresAt: Date | undefined;
  lastUsedAt: Date | undefined;
  revokedAt: Date | undefined;
}

interface ApiKeyRow {
  id: string;
  tenant_id: string;
  prefix: string;
  secret_hash: string;
  display_name: string;
  role: TenantRole;
  scopes: string[];
  created_by: string;
  created_at: string;
  expires_at: unknown;
  last_used_at: unknown;
  revoked_at: unknown;
}

const COLUMNS =
  "id, tenant_id, prefix, secret_hash, display_name, role, scopes, created_by, created_at, expires_at, last_used_at, revoked_at";
const NOT_FOUND = "API key not found";

function fromRow(r: ApiKeyRow): ApiKeyRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    prefix: r.prefix,
    displayName: r.display_name,
    role: r.role,
    scopes: r.scopes,
    createdBy: r.created_by,
    createdAt: toDate(r.created_at),
    expiresAt: toDateOrUndefined(r.expires_at),
    lastUsedAt: toDateOrUndefined(r.last_used_at),
    revokedAt: toDateOrUndefined(r.revoked_at),
  };
}

async function keyInTenant(em: TxEntityManager, tenantId: string, id: string, lock = false) {
  const row = await queryOne<ApiKeyRow>(
    em,
    `select ${COLUMNS} from api_keys where tenant_id = ? and id = ?${lock ? " for update" : ""}`,
    [tenantId, id],
  );
  if (!row) throw new NotFound(NOT_FOUND);
  return row;
}

/** Creates a key for the caller's tenant; returns it with its secret (shown once, stored as a hash). */
export async function createApiKey(
  deps: IdentityDeps,
  input: { displayName: string; role: TenantRole; scopes: string[]; expiresAt: Date | undefined },
): Promise<{ key: ApiKeyRecord; secret: string }> {
  const principal = permissions.requirePermission("identity.api_keys.manage");
  const tenantId = callerTenant();
  const own = highestRole(principal.roles);
  if (!own || !atLeast(own, input.role)) {
    throw new PermissionDenied("an API key cannot have a higher role than its creator", [
      { field: "role", message: "higher than your own role" },
    ]);
  }
  if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
    throw new InvalidArgument("expire_time must be in the future", [
      { field: "expire_time", message: "must be in the future" },
    ]);
  }
  const { key: secret, prefix } = newApiKey();
  const row = await withTenantTransaction(deps.orm, async (em) => {
    // a key outlives the session that made it: creating one is a step-up operation
    await requireStepUp(deps, em, principal, tenantId);
    const inserted = await queryOne<ApiKeyRow>(
      em,
      `insert into api_keys (id, tenant_id, prefix, secret_hash, display_name, role, scopes, created_by, expires_at)
       values (?, ?, ?, ?, ?, ?, ?::text[], ?, ?) returning ${COLUMNS}`,
      [
        randomUUID(),
        tenantId,
        prefix,
        sha256Hex(secret),
        input.displayName,
        input.role,
        pgArray(input.scopes),
        principal.subject,
        input.expiresAt ?? null,
      ],
    );
    if (!inserted) throw new Error("insert returned no row");
    const key = fromRow(inserted);
    await apiKeyChanged(em, "created", key);
    return key;
  });
  deps.logger.info({ api_key_id: row.id, api_key_prefix: row.prefix }, "API key created");
  return { key: row, secret };
}

/** One key of the caller's tenant; another tenant's id is NotFound. */
export async function getApiKey(deps: IdentityDeps, id: string): Promise<ApiKeyRecord> {
  permissions.requirePermission("identity.api_keys.manage");
  const tenantId = callerTenant();
  return withTenantTransaction(deps.orm, async (em) => fromRow(await keyInTenant(em, tenantId, id)));
}

/** The caller's tenant's keys, newest first. */
export async function listApiKeys(
  deps: IdentityDeps,
  page: PageInput | undefined,
): Promise<{ keys: ApiKeyRecord[]; nextPageToken: string }> {
  permissions.requirePermission("identity.api_keys.manage");
  const tenantId = callerTenant();
  const cursor = decodeCursor(page, tenantId, "api_keys");
  const size = pageSize(page);
  const rows = await withTenantTransaction(deps.orm, (em) =>
    query<ApiKeyRow>(
      em,
      `select ${COLUMNS} from api_keys where tenant_id = ?
       ${cursor ? "and (created_at, id) < (?::timestamptz, ?::uuid)" : ""}
       order by created_at desc, id desc limit ?`,
      [tenantId, ...(cursor ? [cursor.at, cursor.id] : []), size + 1],
    ),
  );
  const pageRows = rows.slice(0, size);
  const last = pageRows.at(-1);
  const lastCursor: Cursor | undefined = last && { at: last.created_at, id: last.id };
  return {
    keys: pageRows.map(fromRow),
    nextPageToken: nextPageToken(tenantId, "api_keys", lastCursor, rows.length > size),
  };
}

/** Revokes a key of the caller's tenant; its next exchange fails. Revoking again changes nothing. */
export async function revokeApiKey(deps: IdentityDeps, id: string): Promise<ApiKeyRecord> {
  permissions.requirePermission("identity.api_keys.manage");
  const tenantId = callerTenant();
  return withTenantTransaction(deps.orm, async (em) => {
    const row = await keyInTenant(em, tenantId, id, true);
    if (row.revoked_at !== null) return fromRow(row);
    const updated = await queryOne<ApiKeyRow>(
      em,
      `update api_keys set revoked_at = now(), updated_at = now() where tenant_id = ? and id = ? returning ${COLUMNS}`,
      [tenantId, id],
    );
    if (!updated) throw new NotFound(NOT_FOUND);
    const key = fromRow(updated);
    await apiKeyChanged(em, "revoked", key);
    deps.logger.info({ api_key_id: key.id }, "API key revoked");
    return key;
  });
}

/**
 * Checks a presented API key: well-formed, known (looked up across tenants by its prefix through
 * the narrow `api_keys_by_prefix` policy), matching hash, not revoked, not expired. Undefined for
 * any failure; no caching, so a revocation counts from the very next call.
 */
export async function verifyApiKey(deps: IdentityDeps, presented: string): Promise<ApiKeyRecord | undefined> {
  const prefix = apiKeyPrefix(presented);
  if (!prefix) return undefined;
  const row = await withPlatformTransaction(deps.orm, async (em) => {
    await setLocal(em, "app.api_key_prefix", prefix);
    return queryOne<ApiKeyRow & { live: boolean }>(
      em,
      `select ${COLUMNS}, (revoked_at is null and (expires_at is null or expires_at > now())) as live
       from api_keys where prefix = ?`,
      [prefix],
    );
  });
  if (!row || !sameDigest(row.secret_hash, sha256Hex(presented)) || !row.live) return undefined;
  return fromRow(row);
}

/** Records use, at most once a minute per key (the column is informational). */
export async function touchApiKey(em: TxEntityManager, key: ApiKeyRecord): Promise<void> {
  await em.execute(
    `update api_keys set last_used_at = now() where tenant_id = ? and id = ?
     and (last_used_at is null or last_used_at < now() - interval '1 minute')`,
    [key.tenantId, key.id],
    "run",
  );
}
