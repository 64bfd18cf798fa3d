import { create } from "@bufbuild/protobuf";
import type { TxEntityManager } from "@tessera/platform/db";
import { enqueueEvent } from "@tessera/platform/events";
import { MembershipEventSchema } from "@tessera/proto/tessera/identity/v1/events_pb";
import { ScimGroupEventSchema, ScimUserEventSchema } from "@tessera/proto/tessera/identity/v1/scim_pb";
import { toProtoRole } from "../convert.ts";
import type { TenantRole } from "../domain/roles.ts";

/**
 * Events of SCIM provisioning. The actor is the request context's principal: for SCIM requests a
 * service principal `scim:<token id>`. Membership events keep the `membership.` aggregate, so the
 * edges' token caches evict on them like on any other membership change.
 */

/** `membership.deactivated` (SCIM `active: false`) or `membership.reactivated`. */
export function membershipActivation(
  em: TxEntityManager,
  verb: "deactivated" | "reactivated",
  userId: string,
  role: TenantRole,
) {
  return enqueueEvent(em, {
    type: `membership.${verb}`,
    aggregateId: userId,
    schema: MembershipEventSchema,
    payload: create(MembershipEventSchema, {
      userId,
      role: toProtoRole(verb === "reactivated" ? role : undefined),
      previousRole: toProtoRole(verb === "deactivated" ? role : undefined),
    }),
  });
}

/** `scim_user.updated`: which SCIM attributes of a provisioned user changed (names only, no values). */
export function scimUserUpdated(em: TxEntityManager, userId: string, changedAttributes: string[]) {
  return enqueueEvent(em, {
    type: "scim_user.updated",
    aggregateId: userId,
    schema: ScimUserEventSchema,
    payload: create(ScimUserEventSchema, { userId, changedAttributes }),
  });
}

/** `scim_group.created`, `scim_group.updated` or `scim_group.deleted`. */
export function scimGroupChanged(
  em: TxEntityManager,
  verb: "created" | "updated" | "deleted",
  group: { id: string; displayName: string },
  added: readonly string[] = [],
  removed: readonly string[] = [],
) {
  return enqueueEvent(em, {
    type: `scim_group.${verb}`,
    aggregateId: group.id,
    schema: ScimGroupEventSchema,
    payload: create(ScimGroupEventSchema, {
      groupId: group.id,
      displayName: group.displayName,
      addedUserIds: [...added],
      removedUserIds: [...removed],
    }),
  });
}
