import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createServiceTokenSource } from "@tessera/platform/auth";
import { MembershipService } from "@tessera/proto/tessera/identity/v1/memberships_pb";
import { Role } from "@tessera/proto/tessera/identity/v1/resources_pb";
import { TenantService, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { type PlatformWiring, UP_CLIENT_ID } from "./wiring.ts";

/** What the demo tenant seeding produced, for the status output. */
export interface DemoTenant {
  tenantId: string;
  slug: string;
  ownerEmail: string;
  /** True when this run created the owner (false: it existed already). */
  ownerCreated: boolean;
}

/** Fixed, so re-running `up` finds the same tenant instead of creating another (CreateTenant is idempotent on it). */
const DEMO_REQUEST_ID = "6f1c0de4-7d3a-4b55-9e2a-0d3e1a5b7c90";
const DEMO_SLUG = "demo";

const bearer =
  (token: () => Promise<string>): Interceptor =>
  (next) =>
  async (req) => {
    req.header.set("authorization", `Bearer ${await token()}`);
    return next(req);
  };

/**
 * Seeds the demo tenant through the public contracts, as an operator would: `up`'s own service
 * credential (roles platform-admin + edge) creates the tenant in tenancy, invites its owner in
 * identity and accepts the invitation with the owner's password from the dev secrets. Idempotent.
 * Skipped (undefined) when tenancy or identity is not among the deployables.
 */
export async function seedDemoTenant(wiring: PlatformWiring): Promise<DemoTenant | undefined> {
  const tenancyUrl = wiring.urlOf("tenancy");
  const identityUrl = wiring.urlOf("identity");
  if (!tenancyUrl || !identityUrl) return undefined;
  const tokens = createServiceTokenSource({
    identityUrl,
    clientId: UP_CLIENT_ID,
    clientSecret: wiring.secrets.clients[UP_CLIENT_ID] as string,
  });
  try {
    const tenancy = createClient(
      TenantService,
      createGrpcTransport({ baseUrl: tenancyUrl, interceptors: [bearer(() => tokens.getToken("tenancy"))] }),
    );
    const members = createClient(
      MembershipService,
      createGrpcTransport({ baseUrl: identityUrl, interceptors: [bearer(() => tokens.getToken("identity"))] }),
    );
    const { tenant } = await tenancy.createTenant(
      {
        requestId: DEMO_REQUEST_ID,
        slug: DEMO_SLUG,
        displayName: "Demo Inc.",
        tier: Tier.POOL,
        plan: "team",
        region: "local",
      },
      { timeoutMs: 10_000 },
    );
    if (!tenant) throw new Error("tenancy returned no tenant");
    const owner = wiring.secrets.demoOwner;
    let ownerCreated = false;
    try {
      const invitation = await members.createInvitation(
        { email: owner.email, role: Role.OWNER, tenantId: tenant.id },
        { timeoutMs: 10_000 },
      );
      const accepted = await members.acceptInvitation(
        { token: invitation.token, password: owner.password, displayName: "Demo Owner" },
        { timeoutMs: 10_000 },
      );
      ownerCreated = accepted.userCreated;
    } catch (err) {
      // the owner exists and is already a member (an earlier `up` seeded it): nothing to do
      if (ConnectError.from(err).code !== Code.AlreadyExists) throw err;
    }
    return { tenantId: tenant.id, slug: tenant.slug, ownerEmail: owner.email, ownerCreated };
  } finally {
    tokens.close();
  }
}
