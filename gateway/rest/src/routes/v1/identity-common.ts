import type { Client } from "@connectrpc/connect";
import type { ApiKeyService } from "@tessera/proto/tessera/identity/v1/api_keys_pb";
import type { MembershipService } from "@tessera/proto/tessera/identity/v1/memberships_pb";
import type { MfaService } from "@tessera/proto/tessera/identity/v1/mfa_pb";
import { Role } from "@tessera/proto/tessera/identity/v1/resources_pb";
import type { ScimService } from "@tessera/proto/tessera/identity/v1/scim_pb";
import type { SessionService } from "@tessera/proto/tessera/identity/v1/sessions_pb";
import type { SsoService } from "@tessera/proto/tessera/identity/v1/sso_pb";
import type { UserService } from "@tessera/proto/tessera/identity/v1/users_pb";
import { z } from "zod";
import { ProblemError } from "../../problems.ts";

/** Tenant roles as the REST API names them, most powerful first. */
export const ROLE_NAMES = ["owner", "admin", "member", "viewer"] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

const TO_PROTO: Record<RoleName, Role> = {
  owner: Role.OWNER,
  admin: Role.ADMIN,
  member: Role.MEMBER,
  viewer: Role.VIEWER,
};

/** A role in a body: one of the names (a 400 naming the field otherwise). */
export const roleField = () => z.enum(ROLE_NAMES).describe("owner > admin > member > viewer");

/** The contract's role for a REST name. */
export function roleOf(name: RoleName): Role {
  return TO_PROTO[name];
}

/** The REST name of a contract role; a role this edge does not know is a service fault (500). */
export function roleName(role: Role): RoleName {
  const found = ROLE_NAMES.find((n) => TO_PROTO[n] === role);
  if (!found) throw new Error(`identity sent role ${role}, which this edge does not know`);
  return found;
}

/** Text a person types (names): no control characters, NUL included. */
export const plainText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    .regex(/^[^\u0000-\u001f\u007f]*$/, "must not contain control characters");

/** identity's services as the caller (audience `identity`), for the tenant-administration routes. */
export interface IdentityClients {
  readonly memberships: Client<typeof MembershipService>;
  readonly apiKeys: Client<typeof ApiKeyService>;
  readonly sessions: Client<typeof SessionService>;
  readonly users: Client<typeof UserService>;
  /** The tenant's MFA policy (/v1/mfa-policy). */
  readonly mfa: Client<typeof MfaService>;
  /** The tenant's SCIM tokens and group mapping (/v1/scim). */
  readonly scim: Client<typeof ScimService>;
  /** The tenant's SSO connection (/v1/sso-connection). */
  readonly sso: Client<typeof SsoService>;
}

/** The identity clients, or the 503 an edge without them answers with. */
export function identityClients(clients: IdentityClients | undefined): IdentityClients {
  if (!clients) throw new ProblemError("unavailable", "Tenant administration is not configured on this edge.");
  return clients;
}
