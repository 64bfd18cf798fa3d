import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { type Orm, type TxEntityManager, withPlatformTransaction } from "@tessera/platform/db";
import type { Logger } from "@tessera/platform/log";
import { calculateJwkThumbprint, errors, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from "jose";
import { derivedKey, seal, unseal } from "./secrets.ts";
import { query, queryOne } from "./sql.ts";

/** Algorithms identity signs with (the ones the kit's verifier accepts). */
export type SigningAlg = "EdDSA" | "ES256";

/** The key tokens are signed with right now. */
export interface ActiveKey {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly privateKey: KeyObject;
}

/** Options of {@link createKeyStore}. */
export interface KeyStoreOptions {
  orm: Orm;
  /** ≥ 32 bytes; private keys are stored AES-256-GCM encrypted under a key derived from it. */
  keyEncryptionKey: Buffer;
  alg: SigningAlg;
  /** A rotated key stays published this long after rotation: the longest token lifetime plus slack. */
  retainAfterRotationMs: number;
  /** How often the key set is re-read (keys rotated by another replica). */
  reloadMs: number;
  logger: Logger;
}

/** identity's signing keys: kept in its database, private parts encrypted at rest. */
export interface KeyStore {
  active(): ActiveKey;
  /** jose key resolver over the published keys, for verifying identity's own tokens. */
  readonly getKey: JWTVerifyGetKey;
  /** The JWKS as published now (read from the database, memoised for a second). */
  jwks(): Promise<JSONWebKeySet>;
  /**
   * Makes a new key active; the previous one stays published until its tokens have expired.
   * `inTransaction` opens the transaction (default: a platform one) and `onRotated` runs in it
   * (e.g. to enqueue the event that reports the rotation).
   */
  rotate(options?: RotateOptions): Promise<Rotation>;
  reload(): Promise<void>;
  stop(): void;
}

/** The outcome of a rotation. */
export interface Rotation {
  kid: string;
  previousKid: string;
}

/** How a rotation runs its transaction. */
export interface RotateOptions {
  inTransaction?: <T>(fn: (em: TxEntityManager) => Promise<T>) => Promise<T>;
  onRotated?: (em: TxEntityManager, rotation: Rotation) => Promise<void>;
}

interface KeyRow {
  kid: string;
  alg: SigningAlg;
  public_jwk: JWK;
  private_key_enc: Buffer;
  rotated_at: unknown;
}

const LOCK = "select pg_advisory_xact_lock(hashtext('tessera.identity.signing_keys'))";
const PUBLISHED = `select kid, alg, public_jwk, private_key_enc, rotated_at from signing_keys
  where rotated_at is null or retire_after > now() order by created_at`;

const wrappingKey = (kek: Buffer) => derivedKey(kek, "tessera identity signing keys v1");

async function generate(alg: SigningAlg, kek: Buffer) {
  const pair = alg === "EdDSA" ? generateKeyPairSync("ed25519") : generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = pair.publicKey.export({ format: "jwk" }) as JWK;
  const kid = await calculateJwkThumbprint(jwk);
  const der = pair.privateKey.export({ format: "der", type: "pkcs8" });
  return { kid, publicJwk: { ...jwk, kid, alg, use: "sig" }, sealed: seal(kek, kid, der) };
}

/**
 * Loads the signing keys (creating the first one when there is none) and keeps them fresh:
 * re-read every `reloadMs`, and at once when a token names an unknown kid (at most once a second).
 */
export async function createKeyStore(options: KeyStoreOptions): Promise<KeyStore> {
  const kek = wrappingKey(options.keyEncryptionKey);
  const retainSec = Math.ceil(options.retainAfterRotationMs / 1000);
  let active: ActiveKey | undefined;
  let publicKeys = new Map<string, { key: KeyObject; alg: SigningAlg }>();
  let lastReload = 0;
  let jwksMemo: { at: number; value: JSONWebKeySet } | undefined;

  const insertKey = async (em: TxEntityManager) => {
    const created = await generate(options.alg, kek);
    await query(em, "insert into signing_keys (kid, alg, public_jwk, private_key_enc) values (?, ?, ?, ?)", [
      created.kid,
      options.alg,
      JSON.stringify(created.publicJwk),
      created.sealed,
    ]);
    return created.kid;
  };

  const reload = async () => {
    lastReload = Date.now();
    const rows = await withPlatformTransaction(options.orm, (em) => query<KeyRow>(em, PUBLISHED));
    const next = new Map<string, { key: KeyObject; alg: SigningAlg }>();
    let nextActive: ActiveKey | undefined;
    for (const row of rows) {
      next.set(row.kid, { key: createPublicKey({ key: row.public_jwk, format: "jwk" }), alg: row.alg });
      if (row.rotated_at === null) {
        const der = unseal(kek, row.kid, row.private_key_enc);
        nextActive = {
          kid: row.kid,
          alg: row.alg,
          privateKey: createPrivateKey({ key: der, format: "der", type: "pkcs8" }),
        };
      }
    }
    if (!nextActive) throw new Error("no active signing key");
    publicKeys = next;
    active = nextActive;
  };

  await withPlatformTransaction(options.orm, async (em) => {
    await query(em, LOCK);
    const existing = await queryOne(em, "select kid from signing_keys where rotated_at is null");
    if (!existing) {
      const kid = await insertKey(em);
      options.logger.info({ kid }, "created the first signing key");
    }
  });
  await reload();

  const timer = setInterval(() => {
    reload().catch((err: unknown) => options.logger.warn({ err }, "reloading signing keys failed"));
  }, options.reloadMs);
  timer.unref();

  const getKey: JWTVerifyGetKey = async (header) => {
    const kid = header.kid;
    if (kid === undefined) throw new errors.JWKSNoMatchingKey();
    let found = publicKeys.get(kid);
    if (!found && Date.now() - lastReload > 1_000) {
      await reload();
      found = publicKeys.get(kid);
    }
    if (!found || found.alg !== header.alg) throw new errors.JWKSNoMatchingKey();
    return found.key;
  };

  return {
    active() {
      if (!active) throw new Error("key store not loaded");
      return active;
    },
    getKey,
    async jwks() {
      if (jwksMemo && Date.now() - jwksMemo.at < 1_000) return jwksMemo.value;
      const rows = await withPlatformTransaction(options.orm, (em) => query<KeyRow>(em, PUBLISHED));
      const value = { keys: rows.map((r) => r.public_jwk) };
      jwksMemo = { at: Date.now(), value };
      return value;
    },
    async rotate(rotateOptions = {}) {
      const inTransaction =
        rotateOptions.inTransaction ??
        (<T>(fn: (em: TxEntityManager) => Promise<T>) => withPlatformTransaction(options.orm, fn));
      const result = await inTransaction(async (em) => {
        await query(em, LOCK);
        const previous = await queryOne<{ kid: string }>(
          em,
          `update signing_keys set rotated_at = now(), retire_after = now() + make_interval(secs => ?)
           where rotated_at is null returning kid`,
          [retainSec],
        );
        const kid = await insertKey(em);
        const rotation = { kid, previousKid: previous?.kid ?? "" };
        await rotateOptions.onRotated?.(em, rotation);
        return rotation;
      });
      jwksMemo = undefined;
      await reload();
      options.logger.info({ kid: result.kid, previous_kid: result.previousKid }, "signing key rotated");
      return result;
    },
    reload,
    stop: () => clearInterval(timer),
  };
}
