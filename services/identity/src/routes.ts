import type { ConnectRouter } from "@connectrpc/connect";
import { ApiKeyService } from "@tessera/proto/tessera/identity/v1/api_keys_pb";
import { AuthService, ServiceCredentialService } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { MembershipService } from "@tessera/proto/tessera/identity/v1/memberships_pb";
import { MfaService } from "@tessera/proto/tessera/identity/v1/mfa_pb";
import { ScimService } from "@tessera/proto/tessera/identity/v1/scim_pb";
import { SessionService } from "@tessera/proto/tessera/identity/v1/sessions_pb";
import { SsoService } from "@tessera/proto/tessera/identity/v1/sso_pb";
import { UserService } from "@tessera/proto/tessera/identity/v1/users_pb";
import { PasskeyService } from "@tessera/proto/tessera/identity/v1/webauthn_pb";
import type { IdentityDeps } from "./domain/deps.ts";
import { apiKeyHandlers } from "./handlers/api-keys.ts";
import { authHandlers } from "./handlers/auth.ts";
import { membershipHandlers } from "./handlers/memberships.ts";
import { mfaHandlers } from "./handlers/mfa.ts";
import { passkeyHandlers } from "./handlers/passkeys.ts";
import { scimHandlers } from "./handlers/scim.ts";
import { serviceCredentialHandlers } from "./handlers/service-credentials.ts";
import { sessionHandlers } from "./handlers/sessions.ts";
import { ssoHandlers } from "./handlers/sso.ts";
import { userHandlers } from "./handlers/users.ts";

/** The one service type reachable without an internal token. */
export const PUBLIC_SERVICES = [ServiceCredentialService.typeName];

/** Registers every identity RPC. */
export function routes(deps: IdentityDeps, allowedAudiences: (clientId: string) => Promise<readonly string[]>) {
  return (router: ConnectRouter) => {
    router.service(AuthService, authHandlers(deps, allowedAudiences));
    router.service(ServiceCredentialService, serviceCredentialHandlers(deps));
    router.service(UserService, userHandlers(deps));
    router.service(MembershipService, membershipHandlers(deps));
    router.service(ApiKeyService, apiKeyHandlers(deps));
    router.service(ScimService, scimHandlers(deps));
    router.service(MfaService, mfaHandlers(deps));
    router.service(PasskeyService, passkeyHandlers(deps));
    router.service(SessionService, sessionHandlers(deps));
    router.service(SsoService, ssoHandlers(deps));
  };
}
