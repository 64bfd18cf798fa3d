import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";

const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802/7677, as `pg_authid`
 * holds it). Sending the verifier instead of the password keeps the plain text out of server
 * logs and `pg_stat_statements`. Printable ASCII only, so no SASLprep normalisation is involved.
 */
export function scramVerifier(password: string, iterations = 4096): string {
  if (!PRINTABLE_ASCII.test(password)) throw new TypeError("passwords must be printable ASCII without spaces");
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}
