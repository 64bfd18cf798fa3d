import { hash, parseOptions, verify } from "@node-rs/argon2";

/** argon2id cost parameters (the library's default algorithm is argon2id). */
export interface Argon2Params {
  /** KiB of memory; OWASP minimum 19456. */
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** Hashes and verifies passwords and client secrets with argon2id at the configured cost. */
export interface PasswordHasher {
  hash(secret: string): Promise<string>;
  /** False for a wrong secret or a malformed hash; never throws for those. */
  verify(hashed: string, secret: string): Promise<boolean>;
  /**
   * Spends the same work as a real verification, for unknown users and locked accounts, so
   * neither answers faster than a wrong password.
   */
  burn(secret: string): Promise<void>;
  /** True when the hash was made with other parameters than the current ones (rehash on login). */
  needsRehash(hashed: string): boolean;
}

/** A hasher over @node-rs/argon2 (argon2id, 16-byte random salt, 32-byte output). */
export async function createPasswordHasher(params: Argon2Params): Promise<PasswordHasher> {
  const options = { memoryCost: params.memoryCost, timeCost: params.timeCost, parallelism: params.parallelism };
  // A real hash of a random value, so burning costs exactly what a verification costs.
  const dummy = await hash(crypto.randomUUID(), options);
  return {
    hash: (secret) => hash(secret, options),
    async verify(hashed, secret) {
      try {
        return await verify(hashed, secret);
      } catch {
        return false;
      }
    },
    async burn(secret) {
      await verify(dummy, secret).catch(() => false);
    },
    needsRehash(hashed) {
      try {
        const p = parseOptions(hashed);
        return (
          p.memoryCost !== params.memoryCost || p.timeCost !== params.timeCost || p.parallelism !== params.parallelism
        );
      } catch {
        return true;
      }
    },
  };
}
