import type { ServiceImpl } from "@connectrpc/connect";
import type { AuditService } from "@tessera/proto/tessera/audit/v1/audit_pb";
import { filterFromProto, recordToProto } from "../convert.ts";
import { readableTenant } from "../domain/access.ts";
import { listRecords } from "../domain/query.ts";
import { readSnapshot } from "../domain/snapshot.ts";
import type { HandlerDeps } from "./context.ts";

const DEFAULT_PAGE_SIZE = 50;

/** ListAuditEvents: a tenant's records, newest first, filtered, one page at a time. */
export function listHandlers(deps: HandlerDeps): Pick<ServiceImpl<typeof AuditService>, "listAuditEvents"> {
  return {
    async listAuditEvents(req) {
      const tenantId = readableTenant(req.tenantId);
      const filter = filterFromProto(req.filter);
      const page = await readSnapshot(deps.orm, tenantId, (sql) =>
        listRecords(sql, tenantId, filter, {
          size: req.page?.pageSize || DEFAULT_PAGE_SIZE,
          token: req.page?.pageToken ?? "",
        }),
      );
      return { events: page.records.map(recordToProto), page: { nextPageToken: page.nextPageToken } };
    },
  };
}
