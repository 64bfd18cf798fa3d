import { isMessage } from "@bufbuild/protobuf";
import { type User, UserSchema } from "@tessera/proto/tessera/identity/v1/resources_pb";
import { builder } from "../builder.ts";
import type { GatewayContext } from "../context.ts";
import { DateTime, toDate } from "./common.ts";

/**
 * A person. Loaded through identity's BatchGetUsers (one call per request for all users a query
 * touches); users outside the caller's tenant are not visible (null).
 */
export const UserRef = builder.loadableNode("User", {
  description: "A person. Only members of the caller's tenant are visible.",
  id: { resolve: (user) => user.id },
  isTypeOf: (value) => isMessage(value, UserSchema),
  load: async (ids: string[], ctx: GatewayContext): Promise<User[]> =>
    (await ctx.rpc.users.batchGetUsers({ userIds: ids })).users,
  sort: (user) => user.id,
  loaderOptions: { maxBatchSize: 100 },
  fields: (t) => ({
    displayName: t.exposeString("displayName"),
    email: t.exposeString("email", { description: "Sign-in address." }),
    createdAt: t.field({ type: DateTime, resolve: (user) => toDate(user.createTime) }),
  }),
});
