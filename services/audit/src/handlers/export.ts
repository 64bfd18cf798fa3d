import type { ServiceImpl } from "@connectrpc/connect";
import type { AuditService, ExportAuditEventsResponse } from "@tessera/proto/tessera/audit/v1/audit_pb";
import { filterFromProto, recordToProto, statementToProto } from "../convert.ts";
import { readableTenant } from "../domain/access.ts";
import { storedCheckpoints } from "../domain/anchor.ts";
import { exportBatch, headSeq } from "../domain/query.ts";
import { canonicalJson } from "../domain/record.ts";
import { CHECKPOINT_FORMAT, type SignedStatement } from "../domain/signing.ts";
import { readSnapshot } from "../domain/snapshot.ts";
import type { HandlerDeps } from "./context.ts";

type Statements = Pick<ExportAuditEventsResponse, "head" | "checkpoint">;

/**
 * The statements an export starts with: the latest published signed head (read before the
 * database's head, so it is never beyond the export's end in an honest log) and the checkpoint the
 * log starts from — as published, else as stored (a forged one unsigned, for the verifier to refuse).
 */
async function statements(deps: HandlerDeps, tenantId: string): Promise<{ until: number; statements: Statements }> {
  const head = deps.store ? await deps.store.latestHead(tenantId) : undefined;
  const { until, latest } = await readSnapshot(deps.orm, tenantId, async (sql) => ({
    until: await headSeq(sql, tenantId),
    latest: (await storedCheckpoints(sql, tenantId))[0],
  }));
  let checkpoint: SignedStatement | undefined;
  if (latest) {
    checkpoint = (deps.store && (await deps.store.checkpoint(tenantId, latest.seq))) ??
      latest.signed ?? {
        payload: canonicalJson({
          format: CHECKPOINT_FORMAT,
          tenant_id: tenantId,
          sequence: latest.seq,
          hash: latest.hash.toString("hex"),
          signed_at: "",
        }),
        signature: "",
        keyId: "",
      };
  }
  return {
    until,
    statements: {
      ...(head && { head: statementToProto(head) }),
      ...(checkpoint && { checkpoint: statementToProto(checkpoint) }),
    },
  };
}

/**
 * ExportAuditEvents: a tenant's records in chain order, in batches, up to the head as it was when
 * the export began (so it ends even while events keep arriving); the first message also carries the
 * signed head and checkpoint. Each batch is its own short read, so a slow reader holds no
 * transaction open.
 */
export function exportHandlers(deps: HandlerDeps): Pick<ServiceImpl<typeof AuditService>, "exportAuditEvents"> {
  return {
    async *exportAuditEvents(req, ctx) {
      const tenantId = readableTenant(req.tenantId);
      const filter = filterFromProto(req.filter);
      const { until, statements: first } = await statements(deps, tenantId);
      let pending: Statements | undefined = first.head || first.checkpoint ? first : undefined;
      let after = 0;
      while (after < until && !ctx.signal.aborted) {
        const from = after;
        const batch = await readSnapshot(deps.orm, tenantId, (sql) =>
          exportBatch(sql, tenantId, filter, from, until, deps.exportBatchSize),
        );
        const last = batch.at(-1);
        if (!last) break;
        yield { events: batch.map(recordToProto), ...pending };
        pending = undefined;
        after = last.seq;
        if (batch.length < deps.exportBatchSize) break;
      }
      if (pending) yield { events: [], ...pending };
    },
  };
}
