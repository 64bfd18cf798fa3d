import type { ServiceImpl } from "@connectrpc/connect";
import type { UserService } from "@tessera/proto/tessera/identity/v1/users_pb";
import type { IdentityDeps } from "../domain/deps.ts";
import { getUser, getViewer, visibleUsers } from "../domain/memberships.ts";
import { membershipToProto, userToProto } from "./convert.ts";

/** tessera.identity.v1.UserService: GetUser, BatchGetUsers, GetViewer. */
export function userHandlers(deps: IdentityDeps): ServiceImpl<typeof UserService> {
  return {
    async getUser(req) {
      return { user: userToProto(await getUser(deps, req.userId)) };
    },
    async batchGetUsers(req) {
      return { users: (await visibleUsers(deps, req.userIds)).map(userToProto) };
    },
    async getViewer() {
      const { user, memberships } = await getViewer(deps);
      return {
        user: userToProto(user),
        memberships: memberships.map((m) => membershipToProto(m)),
        platformRoles: user.platformRoles,
      };
    },
  };
}
