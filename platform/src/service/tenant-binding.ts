import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { currentContext } from "../context/index.ts";
import { type Logger, rootLogger } from "../log/index.ts";
import type { RpcServer } from "../rpc-server/index.ts";

/** What a caller of another tenant is told (never which tenant the process serves). */
export const FOREIGN_TENANT_MESSAGE = "this instance serves one dedicated tenant: calls for another tenant are refused";

let processTenant: string | undefined;
const bound = new WeakSet<RpcServer>();

/**
 * Binds this process to one tenant (SERVICE_TENANT_ID, set by runService before the service
 * builds its server): every server createServiceServer builds afterwards refuses calls acting for
 * any other tenant. A silo tenant's own processes run this way.
 */
export function bindProcessToTenant(tenantId: string | undefined): void {
  processTenant = tenantId;
}

/** The tenant this process is bound to, if any. */
export function processTenantId(): string | undefined {
  return processTenant;
}

/** Records that `server` enforces `tenantId` (runService checks it before listening). */
export function markBound(server: RpcServer, tenantId: string): void {
  if (tenantId === processTenant) bound.add(server);
}

/** Whether `server` was built to enforce the process's tenant binding. */
export function enforcesProcessTenant(server: RpcServer): boolean {
  return processTenant === undefined || bound.has(server);
}

/**
 * The server interceptor (inside auth, so the verified token's tenant is in the context) that
 * lets through only calls acting for `tenantId` or for no tenant at all (service tokens, platform
 * work); a call acting for another tenant fails with PERMISSION_DENIED before any handler runs.
 */
export function tenantBindingInterceptor(tenantId: string, logger?: Logger): Interceptor {
  const log = (logger ?? rootLogger()).child({ component: "tenant-binding" });
  return (next) => async (req) => {
    const caller = currentContext()?.tenantId;
    if (caller !== undefined && caller !== tenantId) {
      log.warn(
        { procedure: `/${req.service.typeName}/${req.method.name}`, bound_tenant: tenantId },
        "call rejected: acting for another tenant than the one this process serves",
      );
      throw new ConnectError(FOREIGN_TENANT_MESSAGE, Code.PermissionDenied);
    }
    return next(req);
  };
}
