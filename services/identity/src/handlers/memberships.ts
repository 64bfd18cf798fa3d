import type { ServiceImpl } from "@connectrpc/connect";
import type { MembershipService } from "@tessera/proto/tessera/identity/v1/memberships_pb";
import { fromProtoRole } from "../convert.ts";
import type { IdentityDeps } from "../domain/deps.ts";
import { acceptInvitation, createInvitation, listInvitations, revokeInvitation } from "../domain/invitations.ts";
import { changeMemberRole, listMembers, removeMember } from "../domain/memberships.ts";
import { invitationToProto, membershipToProto } from "./convert.ts";

/** tessera.identity.v1.MembershipService: members and invitations of the caller's tenant. */
export function membershipHandlers(deps: IdentityDeps): ServiceImpl<typeof MembershipService> {
  return {
    async listMembers(req) {
      const { members, nextPageToken } = await listMembers(deps, req.page);
      return { members: members.map((m) => membershipToProto(m.membership, m.user)), page: { nextPageToken } };
    },
    async changeMemberRole(req) {
      return { membership: membershipToProto(await changeMemberRole(deps, req.userId, fromProtoRole(req.role))) };
    },
    async removeMember(req) {
      await removeMember(deps, req.userId);
      return {};
    },
    async createInvitation(req) {
      const { invitation, token } = await createInvitation(deps, {
        email: req.email,
        role: fromProtoRole(req.role),
        tenantId: req.tenantId,
      });
      return { invitation: invitationToProto(invitation), token };
    },
    async acceptInvitation(req) {
      const { membership, userCreated } = await acceptInvitation(deps, {
        token: req.token,
        password: req.password,
        displayName: req.displayName,
      });
      return { membership: membershipToProto(membership), userCreated };
    },
    async listInvitations(req) {
      const { invitations, nextPageToken } = await listInvitations(deps, req.page);
      return { invitations: invitations.map(invitationToProto), page: { nextPageToken } };
    },
    async revokeInvitation(req) {
      return { invitation: invitationToProto(await revokeInvitation(deps, req.invitationId)) };
    },
  };
}
