import type { ConnectRouter } from "@connectrpc/connect";
import { ProjectService, TaskService } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { commentHandlers } from "./handlers/comments.ts";
import type { HandlerDeps } from "./handlers/context.ts";
import { projectHandlers } from "./handlers/projects.ts";
import { taskHandlers } from "./handlers/tasks.ts";

/** Registers projects' two gRPC services. */
export function routes(router: ConnectRouter, deps: HandlerDeps): void {
  router.service(ProjectService, projectHandlers(deps));
  router.service(TaskService, { ...taskHandlers(deps), ...commentHandlers(deps) });
}
