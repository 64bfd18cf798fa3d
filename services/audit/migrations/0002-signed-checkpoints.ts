import { Migration } from "@tessera/platform/db";

/**
 * Retention checkpoints carry their signed statement (canonical JSON, Ed25519 signature, key id):
 * audit publishes it outside the database too, and VerifyChain refuses a checkpoint whose
 * signature does not verify. Rows from before signing keep NULLs (they are reported as unsigned).
 */
export class SignedCheckpoints extends Migration {
  override up(): void {
    this.addSql(`alter table audit_checkpoints
      add column statement text,
      add column signature text,
      add column key_id text`);
  }

  override down(): void {
    this.addSql(`alter table audit_checkpoints drop column statement, drop column signature, drop column key_id`);
  }
}
