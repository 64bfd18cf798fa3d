import type { ConnectRouter } from "@connectrpc/connect";
import { AuditService } from "@tessera/proto/tessera/audit/v1/audit_pb";
import type { HandlerDeps } from "./handlers/context.ts";
import { exportHandlers } from "./handlers/export.ts";
import { listHandlers } from "./handlers/list.ts";
import { verifyHandlers } from "./handlers/verify.ts";

/** Registers audit's one gRPC service. */
export function routes(router: ConnectRouter, deps: HandlerDeps): void {
  router.service(AuditService, { ...listHandlers(deps), ...verifyHandlers(deps), ...exportHandlers(deps) });
}
