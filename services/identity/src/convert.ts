import { Role } from "@tessera/proto/tessera/identity/v1/resources_pb";
import type { TenantRole } from "./domain/roles.ts";

const TO_PROTO: Record<TenantRole, Role> = {
  owner: Role.OWNER,
  admin: Role.ADMIN,
  member: Role.MEMBER,
  viewer: Role.VIEWER,
};

/** Domain role → proto enum. */
export function toProtoRole(role: TenantRole | undefined): Role {
  return role === undefined ? Role.UNSPECIFIED : TO_PROTO[role];
}

/** Proto enum → domain role (validation has already refused UNSPECIFIED and unknown values). */
export function fromProtoRole(role: Role): TenantRole {
  const found = (Object.entries(TO_PROTO) as Array<[TenantRole, Role]>).find(([, v]) => v === role);
  if (!found) throw new TypeError(`unknown role ${role}`);
  return found[0];
}
