import { randomUUID } from "node:crypto";
import type { TxEntityManager } from "@tessera/platform/db";
import { pgArray, query, queryOne, toDate, toDateOrUndefined } from "../sql.ts";

/** A user's passkey: the factor (name, times) and its public credential. */
export interface PasskeyRecord {
  /** The factor id. */
  id: string;
  userId: string;
  displayName: string;
  /** base64url, as WebAuthn JSON carries it. */
  credentialId: string;
  /** COSE_Key bytes. */
  publicKey: Uint8Array;
  signCount: number;
  transports: string[];
  aaguid: string;
  deviceType: string;
  backedUp: boolean;
  createdAt: Date;
  lastUsedAt: Date | undefined;
}

interface PasskeyRow {
  id: string;
  user_id: string;
  display_name: string;
  credential_id: string;
  public_key: Buffer;
  sign_count: string | number;
  transports: string[];
  aaguid: string;
  device_type: string;
  backed_up: boolean;
  created_at: unknown;
  last_used_at: unknown;
}

const SELECT = `select f.id, f.user_id, f.display_name, c.credential_id, c.public_key, c.sign_count, c.transports,
    c.aaguid, c.device_type, c.backed_up, f.created_at, f.last_used_at
  from webauthn_credentials c join mfa_factors f on f.id = c.factor_id`;

function fromRow(r: PasskeyRow): PasskeyRecord {
  return {
    id: r.id,
    userId: r.user_id,
    displayName: r.display_name,
    credentialId: r.credential_id,
    publicKey: new Uint8Array(r.public_key),
    signCount: Number(r.sign_count),
    transports: r.transports,
    aaguid: r.aaguid,
    deviceType: r.device_type,
    backedUp: r.backed_up,
    createdAt: toDate(r.created_at),
    lastUsedAt: toDateOrUndefined(r.last_used_at),
  };
}

/** A user's passkeys, oldest first. */
export async function passkeysOf(em: TxEntityManager, userId: string): Promise<PasskeyRecord[]> {
  const rows = await query<PasskeyRow>(em, `${SELECT} where c.user_id = ? order by f.created_at, f.id`, [userId]);
  return rows.map(fromRow);
}

/** One of the user's passkeys by factor id (another user's is "none"). */
export async function passkeyOfUser(
  em: TxEntityManager,
  userId: string,
  id: string,
): Promise<PasskeyRecord | undefined> {
  const row = await queryOne<PasskeyRow>(em, `${SELECT} where c.user_id = ? and c.factor_id = ?`, [userId, id]);
  return row && fromRow(row);
}

/** The passkey with this credential id, locked (its counter is about to be compared and moved). */
export async function lockPasskeyByCredentialId(
  em: TxEntityManager,
  credentialId: string,
): Promise<PasskeyRecord | undefined> {
  const row = await queryOne<PasskeyRow>(em, `${SELECT} where c.credential_id = ? for update of c`, [credentialId]);
  return row && fromRow(row);
}

/** Whether any user registered this credential already. */
export async function credentialExists(em: TxEntityManager, credentialId: string): Promise<boolean> {
  return (
    (await queryOne(em, "select 1 from webauthn_credentials where credential_id = ?", [credentialId])) !== undefined
  );
}

/** Stores a verified new credential as an active factor of the user. */
export async function insertPasskey(
  em: TxEntityManager,
  input: Omit<PasskeyRecord, "id" | "createdAt" | "lastUsedAt">,
): Promise<PasskeyRecord> {
  const id = randomUUID();
  await query(
    em,
    `insert into mfa_factors (id, user_id, type, status, display_name, confirmed_at)
     values (?, ?, 'webauthn', 'active', ?, now())`,
    [id, input.userId, input.displayName],
  );
  await query(
    em,
    `insert into webauthn_credentials
       (factor_id, user_id, credential_id, public_key, sign_count, transports, aaguid, device_type, backed_up)
     values (?, ?, ?, ?, ?, ?::text[], ?, ?, ?)`,
    [
      id,
      input.userId,
      input.credentialId,
      Buffer.from(input.publicKey),
      input.signCount,
      pgArray(input.transports),
      input.aaguid,
      input.deviceType,
      input.backedUp,
    ],
  );
  const stored = await passkeyOfUser(em, input.userId, id);
  if (!stored) throw new Error("inserted passkey not found");
  return stored;
}

/** Renames one of the user's passkeys; the renamed passkey, or undefined when there is none. */
export async function renamePasskey(
  em: TxEntityManager,
  userId: string,
  id: string,
  displayName: string,
): Promise<PasskeyRecord | undefined> {
  const row = await queryOne(
    em,
    "update mfa_factors set display_name = ? where id = ? and user_id = ? and type = 'webauthn' returning id",
    [displayName, id, userId],
  );
  return row ? passkeyOfUser(em, userId, id) : undefined;
}

/** A successful assertion: the new sign counter, the backup state, and the time of use. */
export async function recordPasskeyUse(
  em: TxEntityManager,
  id: string,
  use: { signCount: number; backedUp: boolean },
): Promise<void> {
  await query(em, "update webauthn_credentials set sign_count = ?, backed_up = ? where factor_id = ?", [
    use.signCount,
    use.backedUp,
    id,
  ]);
  await query(em, "update mfa_factors set last_used_at = now() where id = ?", [id]);
}
