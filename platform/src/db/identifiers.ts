import { InvalidArgument } from "../errors/index.ts";

/**
 * Lower-case PostgreSQL identifiers only: they never need case folding, fit in NAMEDATALEN (63
 * bytes), and cannot carry quotes, so a value that passes can be embedded in DDL safely.
 */
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Checks that `value` is a safe lower-case SQL identifier (`[a-z_][a-z0-9_]*`, at most 63 chars,
 * not starting with `pg_`) and returns it double-quoted. Throws a TypeError naming `what` otherwise.
 */
export function quoteIdentifier(value: string, what: string): string {
  if (typeof value !== "string" || !IDENTIFIER.test(value) || value.startsWith("pg_")) {
    throw new TypeError(
      `${what} must be a lower-case identifier ([a-z_][a-z0-9_]*, at most 63 characters, not starting with pg_)`,
    );
  }
  return `"${value}"`;
}

/** Like quoteIdentifier, for a table name that may be schema-qualified (`schema.table`). */
export function quoteTableName(value: string, what = "table"): string {
  if (typeof value !== "string") throw new TypeError(`${what} must be a string`);
  const parts = value.split(".");
  if (parts.length > 2) throw new TypeError(`${what} must be "table" or "schema.table"`);
  return parts.map((p) => quoteIdentifier(p, what)).join(".");
}

/**
 * Returns the tenant id in canonical (lower-case) form, or throws InvalidArgument when it is not a
 * UUID. The value is never echoed: it may come from a forged or garbled credential.
 */
export function canonicalTenantId(value: unknown): string {
  if (typeof value !== "string" || !UUID.test(value)) {
    throw new InvalidArgument("tenant id must be a UUID");
  }
  return value.toLowerCase();
}
