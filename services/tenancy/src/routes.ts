import type { ConnectRouter } from "@connectrpc/connect";
import { TenantService } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import type { HandlerDeps } from "./handlers/context.ts";
import { directoryHandlers } from "./handlers/directory.ts";
import { lifecycleHandlers } from "./handlers/lifecycle.ts";
import { operationHandlers } from "./handlers/operations.ts";
import { tenantHandlers } from "./handlers/tenants.ts";

/** Registers tenancy's one gRPC service. */
export function routes(router: ConnectRouter, deps: HandlerDeps): void {
  router.service(TenantService, {
    ...tenantHandlers(deps),
    ...lifecycleHandlers(deps),
    ...directoryHandlers(deps),
    ...operationHandlers(deps),
  });
}
