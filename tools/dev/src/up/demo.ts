import { randomUUID } from "node:crypto";
import { type Client, Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createServiceTokenSource } from "@tessera/platform/auth";
import { MembershipService } from "@tessera/proto/tessera/identity/v1/memberships_pb";
import { Role } from "@tessera/proto/tessera/identity/v1/resources_pb";
import {
  OperationState,
  OperationStateSchema,
  type Tenant,
  TenantService,
  TenantStatus,
  TenantStatusSchema,
  Tier,
  TierSchema,
} from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { formatDuration } from "../table.ts";
import { pollUntil } from "../tenants/follow.ts";
import { enumName, tierFromName } from "../tenants/views.ts";
import type { DemoTier } from "./args.ts";
import { type PlatformWiring, UP_CLIENT_ID } from "./wiring.ts";

/** What the demo tenant seeding produced, for the status output. */
export interface DemoTenant {
  tenantId: string;
  slug: string;
  ownerEmail: string;
  /** True when this run created the owner (false: it existed already). */
  ownerCreated: boolean;
  /** Its tier once seeding is done (`pool`, `bridge`, `silo`), its database and (silo) its own endpoints. */
  tier: string;
  database: string;
  endpoints: Record<string, string>;
}

/** How {@link seedDemoTenant} places the demo tenant. */
export interface DemoOptions {
  /** The tier it must end up in; undefined: wherever it is (a new one is created in pool). */
  tier?: DemoTier | undefined;
  /** Stops waiting for a move (tenancy carries on with it). */
  signal?: AbortSignal;
  /** Progress lines (the move). */
  log?: (line: string) => void;
  /** How long provisioning and the move may take together. */
  timeoutMs?: number;
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

/** Polls tenancy every 250 ms, riding out a moment of unavailability, until `finished`. */
function follow<T>(fetch: () => Promise<T>, finished: (value: T) => boolean, deadline: number, signal: AbortSignal) {
  return pollUntil(fetch, finished, () => undefined, {
    intervalMs: 250,
    timeoutMs: Math.max(0, deadline - Date.now()),
    signal,
    toleranceMs: 10_000,
  });
}

/**
 * Puts the demo tenant into `tier` as an operator would: waits for a move already running (an
 * earlier `up` stopped during one) and for provisioning to make it active, then MoveTenant and
 * GetProvisioning until the move SUCCEEDED. Throws when it rolled back or ran out of time.
 */
async function placeDemoTenant(
  tenancy: Client<typeof TenantService>,
  created: Tenant,
  options: DemoOptions,
): Promise<Tenant> {
  if (options.tier === undefined) return created;
  const tenantId = created.id;
  const signal = options.signal ?? new AbortController().signal;
  const deadline = Date.now() + (options.timeoutMs ?? DEMO_PLACEMENT_TIMEOUT_MS);
  const call = { timeoutMs: 10_000, signal };
  const provisioning = () => tenancy.getProvisioning({ tenantId }, call);
  const settled = (p: Awaited<ReturnType<typeof provisioning>>) => p.operation?.state !== OperationState.RUNNING;
  const current = async () => {
    const { tenant } = await tenancy.getTenant({ tenantId }, call);
    if (!tenant) throw new Error("tenancy returned no tenant");
    return tenant;
  };
  await follow(provisioning, settled, deadline, signal);
  const now = await current();
  if (now.tier === tierFromName(options.tier)) return now;
  const tenant = await follow(current, (t) => t.status !== TenantStatus.PROVISIONING, deadline, signal);
  const from = enumName(TierSchema, tenant.tier);
  if (tenant.status !== TenantStatus.ACTIVE)
    throw new Error(
      `the demo tenant is ${enumName(TenantStatusSchema, tenant.status)}: only an active tenant moves from ${from} to ${options.tier}`,
    );
  options.log?.(`moving the demo tenant from ${from} to ${options.tier} (MoveTenant)…`);
  const started = Date.now();
  await tenancy.moveTenant({ tenantId, requestId: randomUUID(), targetTier: tierFromName(options.tier) }, call);
  const done = await follow(provisioning, settled, deadline, signal);
  const state = done.operation?.state ?? OperationState.UNSPECIFIED;
  if (state !== OperationState.SUCCEEDED)
    throw new Error(
      `the move of the demo tenant to ${options.tier} ended ${enumName(OperationStateSchema, state)}: ${done.operation?.lastError || "no reason given"}`,
    );
  options.log?.(`moved the demo tenant to ${options.tier} in ${formatDuration(Date.now() - started)}`);
  return current();
}

/** Provisioning and a move of the (empty) demo tenant: seconds with `up`'s move timings. */
const DEMO_PLACEMENT_TIMEOUT_MS = 180_000;

/**
 * Seeds the demo tenant through the public contracts, as an operator would: `up`'s own service
 * credential (roles platform-admin + edge) creates the tenant in tenancy (in pool), invites its
 * owner in identity and accepts the invitation with the owner's password from the dev secrets,
 * then moves it to `options.tier` with MoveTenant when it is elsewhere. Idempotent. Skipped
 * (undefined) when tenancy or identity is not among the deployables.
 */
export async function seedDemoTenant(
  wiring: PlatformWiring,
  options: DemoOptions = {},
): Promise<DemoTenant | undefined> {
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
    const placed = await placeDemoTenant(tenancy, tenant, options);
    return {
      tenantId: tenant.id,
      slug: tenant.slug,
      ownerEmail: owner.email,
      ownerCreated,
      tier: enumName(TierSchema, placed.tier),
      database: placed.placement?.database ?? "",
      endpoints: { ...(placed.placement?.endpoints ?? {}) },
    };
  } finally {
    tokens.close();
  }
}
