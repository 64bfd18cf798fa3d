import { builder } from "../builder.ts";
import { globalIdType, parseGlobalId } from "../global-id.ts";
import { ProjectRef } from "./project.ts";
import { TaskRef } from "./task.ts";
import { UserRef } from "./user.ts";

/**
 * Relay's `node(id)`: refetches a Project, Task or User by global id. A malformed id, an id of
 * another type, one that does not exist and one of another tenant all answer null, alike.
 */
builder.queryField("node", (t) =>
  t.field({
    type: builder.nodeInterfaceRef(),
    nullable: true,
    description: "An object by global id; null when it does not exist or is not visible.",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const globalId = String(args.id);
      const type = globalIdType(globalId);
      if (type === "Project" || type === "Task" || type === "User") {
        const id = parseGlobalId(globalId, type);
        if (id === undefined) return null;
        const ref = { Project: ProjectRef, Task: TaskRef, User: UserRef }[type];
        return (await ref.getDataloader(ctx).load(id)) ?? null;
      }
      return null;
    },
  }),
);
