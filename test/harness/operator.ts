import { createServiceTokenSource } from "@tessera/platform/auth";
import { closeServiceClient, createServiceClient } from "@tessera/platform/rpc-client";
import { AuthService } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { MembershipService } from "@tessera/proto/tessera/identity/v1/memberships_pb";
import { bearer, type TestPlatform } from "./platform.ts";

/** identity's sign-in and membership services as an edge calls them. */
export interface EdgeIdentityClients {
  auth: ReturnType<typeof createServiceClient<typeof AuthService>>;
  members: ReturnType<typeof createServiceClient<typeof MembershipService>>;
  close(): void;
}

/**
 * identity's AuthService and MembershipService called with the platform's operator credential, which
 * holds the edge role: it signs people in and accepts invitations as an edge would.
 */
export function operatorIdentityClients(platform: TestPlatform): EdgeIdentityClients {
  const operator = platform.clients.operator;
  if (!operator) throw new Error("no operator credential");
  const tokens = createServiceTokenSource({
    identityUrl: platform.identity.url,
    clientId: operator.id,
    clientSecret: operator.secret,
  });
  const options = {
    baseUrl: platform.identity.url,
    defaultTimeoutMs: 10_000,
    interceptors: [bearer(() => tokens.getToken("identity"))],
  };
  const auth = createServiceClient(AuthService, options);
  const members = createServiceClient(MembershipService, options);
  return {
    auth,
    members,
    close() {
      closeServiceClient(auth);
      closeServiceClient(members);
    },
  };
}
