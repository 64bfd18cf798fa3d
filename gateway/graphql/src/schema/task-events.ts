import { builder } from "../builder.ts";
import { NotFoundError } from "../errors/gateway-errors.ts";
import { graphqlFieldPath } from "../errors/mapping.ts";
import { revalidated } from "../events/revalidate.ts";
import type { TaskEventMessage } from "../events/task-events.ts";
import { parseGlobalId } from "../global-id.ts";
import { DateTime } from "./common.ts";
import { ProjectRef } from "./project.ts";
import { TaskRef } from "./task.ts";

/** A contract field name as the Task field that shows it. */
function changedField(name: string): string {
  if (name === "assignee_id") return "assignee";
  return graphqlFieldPath(name);
}

/** How often a live subscription checks that its credential still holds. */
const REVALIDATE_MS = 60_000;

const TaskEventTypeEnum = builder.enumType("TaskEventType", {
  values: ["CREATED", "UPDATED", "COMPLETED", "MOVED", "DELETED"] as const,
});

const TaskEventRef = builder.objectRef<TaskEventMessage>("TaskEvent").implement({
  description: "Something that happened to a task.",
  fields: (t) => ({
    eventId: t.id({ resolve: (e) => e.eventId }),
    type: t.field({ type: TaskEventTypeEnum, resolve: (e) => e.type }),
    occurredAt: t.field({ type: DateTime, resolve: (e) => e.occurredAt }),
    task: t.field({
      type: TaskRef,
      description: "The task as the event describes it (for DELETED: as it was).",
      resolve: (e) => e.task,
    }),
    changedFields: t.stringList({
      description: "For UPDATED: the fields that changed, by their GraphQL names (`assignee`, `dueDate`).",
      resolve: (e) => e.changedFields.map(changedField),
    }),
  }),
});

builder.subscriptionField("taskEvents", (t) =>
  t.field({
    type: TaskEventRef,
    description:
      "Live task events of one project of the caller's tenant (Server-Sent Events). A project that does not exist or is not visible fails with NOT_FOUND.",
    args: { projectId: t.arg.id({ required: true }) },
    subscribe: async (_root, args, ctx) => {
      const { tenantId } = await ctx.session();
      const projectId = parseGlobalId(String(args.projectId), "Project");
      // the caller must be able to read the project; the tenant comes from its token, never from arguments
      const project = projectId ? await ProjectRef.getDataloader(ctx).load(projectId) : null;
      if (!tenantId || !projectId || !project) throw new NotFoundError();
      const events = await ctx.taskEvents.subscribe(tenantId, projectId, ctx.shutdown);
      return revalidated(events, () => ctx.revalidate(), REVALIDATE_MS);
    },
    resolve: (event) => event,
  }),
);
