import { create } from "@bufbuild/protobuf";
import type { TxEntityManager } from "@tessera/platform/db";
import { enqueueEvent } from "@tessera/platform/events";
import { ProjectEventSchema } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { projectToProto } from "../contract.ts";
import type { ProjectView } from "../domain/model.ts";

/** Every project event; subject `tessera.evt.<tenantId>.<type>`, payload ProjectEvent. */
export const PROJECT_EVENT_TYPES = ["project.created", "project.updated", "project.archived"] as const;
/** One of {@link PROJECT_EVENT_TYPES}. */
export type ProjectEventType = (typeof PROJECT_EVENT_TYPES)[number];

/**
 * Enqueues a project event (the project after the change) in the transaction of the change; the
 * tenant and actor come from the request context.
 */
export async function publishProjectEvent(
  em: TxEntityManager,
  type: ProjectEventType,
  project: ProjectView,
): Promise<void> {
  await enqueueEvent(em, {
    type,
    aggregateId: project.id,
    schema: ProjectEventSchema,
    payload: create(ProjectEventSchema, { project: projectToProto(project) }),
  });
}
