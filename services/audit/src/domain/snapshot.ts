import type { Orm } from "@tessera/platform/db";
import { emSql, type Sql } from "./sql.ts";

/**
 * Runs read-only work on one tenant's log in one consistent snapshot (a repeatable-read, read-only
 * transaction set to the tenant, so row-level security limits every statement to it): a chain
 * verified or a page listed is never torn by an append or a retention run committing meanwhile.
 */
export function readSnapshot<T>(orm: Orm, tenantId: string, fn: (sql: Sql) => Promise<T>): Promise<T> {
  return orm.em.fork({ clear: true }).transactional(
    async (em) => {
      await em.execute("select set_config('app.tenant_id', ?, true)", [tenantId], "run");
      return fn(emSql(em));
    },
    { isolationLevel: "repeatable read", readOnly: true },
  );
}
