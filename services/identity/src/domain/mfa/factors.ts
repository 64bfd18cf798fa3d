import { randomUUID } from "node:crypto";
import type { TxEntityManager } from "@tessera/platform/db";
import { derivedKey, seal, unseal } from "../secrets.ts";
import { query, queryOne, toDate, toDateOrUndefined } from "../sql.ts";
import { matchTotp, newTotpSecret, TOTP_DEFAULTS, type TotpAlgorithm, type TotpParams } from "./totp.ts";

/**
 * Factor kinds. TOTP keeps its secret sealed in `secret_enc` and its parameters in `public_data`;
 * a passkey (`webauthn`) has no secret here: its public credential and sign counter live in
 * `webauthn_credentials` (see ../webauthn/credentials.ts), verified beside {@link useTotp}.
 */
export type FactorKind = "totp" | "webauthn";

/** A second factor as its owner sees it (never the secret). */
export interface FactorRecord {
  id: string;
  userId: string;
  type: FactorKind;
  status: "pending" | "active";
  displayName: string;
  createdAt: Date;
  confirmedAt: Date | undefined;
  lastUsedAt: Date | undefined;
}

interface FactorRow {
  id: string;
  user_id: string;
  type: FactorKind;
  status: "pending" | "active";
  display_name: string;
  secret_enc: Buffer | null;
  public_data: { algorithm?: TotpAlgorithm; digits?: number; period?: number };
  last_used_step: string | number | null;
  created_at: unknown;
  confirmed_at: unknown;
  last_used_at: unknown;
}

const COLUMNS =
  "id, user_id, type, status, display_name, secret_enc, public_data, last_used_step, created_at, confirmed_at, last_used_at";

/** TOTP secrets are sealed under their own key derived from IDENTITY_KEY_ENCRYPTION_KEY; the factor id is the AAD. */
export const totpSealingKey = (kek: Buffer) => derivedKey(kek, "tessera identity totp secrets v1");

function fromRow(r: FactorRow): FactorRecord {
  return {
    id: r.id,
    userId: r.user_id,
    type: r.type,
    status: r.status,
    displayName: r.display_name,
    createdAt: toDate(r.created_at),
    confirmedAt: toDateOrUndefined(r.confirmed_at),
    lastUsedAt: toDateOrUndefined(r.last_used_at),
  };
}

function paramsOf(r: FactorRow): TotpParams {
  return {
    algorithm: r.public_data.algorithm ?? TOTP_DEFAULTS.algorithm,
    digits: r.public_data.digits ?? TOTP_DEFAULTS.digits,
    period: r.public_data.period ?? TOTP_DEFAULTS.period,
  };
}

/** A user's factors, oldest first. */
export async function factorsOf(em: TxEntityManager, userId: string): Promise<FactorRecord[]> {
  const rows = await query<FactorRow>(
    em,
    `select ${COLUMNS} from mfa_factors where user_id = ? order by created_at, id`,
    [userId],
  );
  return rows.map(fromRow);
}

/** The kinds of the user's active factors (empty: no MFA by enrolment). */
export async function activeFactorKinds(em: TxEntityManager, userId: string): Promise<FactorKind[]> {
  const rows = await query<{ type: FactorKind }>(
    em,
    "select distinct type from mfa_factors where user_id = ? and status = 'active'",
    [userId],
  );
  return rows.map((r) => r.type);
}

/** Creates a pending TOTP factor (replacing an earlier pending one); returns it with its raw secret. */
export async function insertPendingTotp(
  em: TxEntityManager,
  kek: Buffer,
  userId: string,
  displayName: string,
): Promise<{ factor: FactorRecord; secret: Uint8Array; params: TotpParams }> {
  await query(em, "delete from mfa_factors where user_id = ? and type = 'totp' and status = 'pending'", [userId]);
  const id = randomUUID();
  const secret = newTotpSecret();
  const params = TOTP_DEFAULTS;
  const row = await queryOne<FactorRow>(
    em,
    `insert into mfa_factors (id, user_id, type, status, display_name, secret_enc, public_data)
     values (?, ?, 'totp', 'pending', ?, ?, ?::jsonb) returning ${COLUMNS}`,
    [id, userId, displayName, seal(totpSealingKey(kek), id, Buffer.from(secret)), JSON.stringify(params)],
  );
  if (!row) throw new Error("insert returned no row");
  return { factor: fromRow(row), secret, params };
}

/**
 * Checks a TOTP code against the user's active TOTP factors (or, with `pendingId`, that pending
 * factor only) and records the matched time step, refusing a step already used: each code works
 * once. The matching factor, or undefined. Rows are locked, so two concurrent uses of one code
 * cannot both succeed.
 */
export async function useTotp(
  em: TxEntityManager,
  kek: Buffer,
  userId: string,
  code: string,
  options: { pendingId?: string; nowMs?: number } = {},
): Promise<FactorRecord | undefined> {
  const rows = await query<FactorRow>(
    em,
    options.pendingId === undefined
      ? `select ${COLUMNS} from mfa_factors where user_id = ? and type = 'totp' and status = 'active' order by id for update`
      : `select ${COLUMNS} from mfa_factors where user_id = ? and id = ? and type = 'totp' and status = 'pending' for update`,
    options.pendingId === undefined ? [userId] : [userId, options.pendingId],
  );
  const key = totpSealingKey(kek);
  for (const row of rows) {
    if (!row.secret_enc) continue;
    const secret = new Uint8Array(unseal(key, row.id, row.secret_enc));
    const step = matchTotp(secret, code, paramsOf(row), options.nowMs ?? Date.now());
    if (step === undefined) continue;
    if (row.last_used_step !== null && step <= Number(row.last_used_step)) return undefined;
    const updated = await queryOne<FactorRow>(
      em,
      `update mfa_factors set last_used_step = ?, last_used_at = now(),
         status = 'active', confirmed_at = coalesce(confirmed_at, now())
       where id = ? returning ${COLUMNS}`,
      [step, row.id],
    );
    return updated && fromRow(updated);
  }
  return undefined;
}

/** Whether the user has a pending factor with this id (another user's id is "no"). */
export async function pendingFactor(
  em: TxEntityManager,
  userId: string,
  factorId: string,
): Promise<FactorRecord | undefined> {
  const row = await queryOne<FactorRow>(
    em,
    `select ${COLUMNS} from mfa_factors where user_id = ? and id = ? and status = 'pending'`,
    [userId, factorId],
  );
  return row && fromRow(row);
}

/** Deletes one of the user's factors; the deleted factor, or undefined when there is none. */
export async function deleteFactor(
  em: TxEntityManager,
  userId: string,
  factorId: string,
): Promise<FactorRecord | undefined> {
  const row = await queryOne<FactorRow>(
    em,
    `delete from mfa_factors where user_id = ? and id = ? returning ${COLUMNS}`,
    [userId, factorId],
  );
  return row && fromRow(row);
}
