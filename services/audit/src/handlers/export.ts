import type { ServiceImpl } from "@connectrpc/connect";
import type { AuditService } from "@tessera/proto/tessera/audit/v1/audit_pb";
import { filterFromProto, recordToProto } from "../convert.ts";
import { readableTenant } from "../domain/access.ts";
import { exportBatch, headSeq } from "../domain/query.ts";
import { readSnapshot } from "../domain/snapshot.ts";
import type { HandlerDeps } from "./context.ts";

/**
 * ExportAuditEvents: a tenant's records in chain order, in batches, up to the head as it was when
 * the export began (so it ends even while events keep arriving). Each batch is its own short
 * read, so a slow reader holds no transaction open.
 */
export function exportHandlers(deps: HandlerDeps): Pick<ServiceImpl<typeof AuditService>, "exportAuditEvents"> {
  return {
    async *exportAuditEvents(req, ctx) {
      const tenantId = readableTenant(req.tenantId);
      const filter = filterFromProto(req.filter);
      const until = await readSnapshot(deps.orm, tenantId, (sql) => headSeq(sql, tenantId));
      let after = 0;
      while (after < until && !ctx.signal.aborted) {
        const from = after;
        const batch = await readSnapshot(deps.orm, tenantId, (sql) =>
          exportBatch(sql, tenantId, filter, from, until, deps.exportBatchSize),
        );
        const last = batch.at(-1);
        if (!last) return;
        yield { events: batch.map(recordToProto) };
        after = last.seq;
        if (batch.length < deps.exportBatchSize) return;
      }
    },
  };
}
