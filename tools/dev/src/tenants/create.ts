import { randomUUID } from "node:crypto";
import { type Tenant, TenantStatus, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { secondsOption, UsageError } from "./args.ts";
import { type CommandContext, DEFAULT_FOLLOW_TIMEOUT_S, type TenantsCommand } from "./context.ts";
import { CliError } from "./errors.ts";
import { pollUntil, TimedOut } from "./follow.ts";
import { provisioningSummary, renderSteps, renderTenant } from "./render.ts";
import {
  type ProvisioningView,
  provisioningView,
  type TenantView,
  TIER_NAMES,
  tenantView,
  tierFromName,
} from "./views.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Statuses from which provisioning never reaches ACTIVE (offboarding abandons the saga). */
const GIVEN_UP: readonly TenantStatus[] = [TenantStatus.OFFBOARDING, TenantStatus.DELETED];

/**
 * Follows the provisioning saga (GetProvisioning and the tenant's status) until the tenant is
 * ACTIVE with every step done, showing the steps live.
 */
async function waitUntilActive(
  ctx: CommandContext,
  created: Tenant,
  timeoutS: number,
): Promise<{ tenant: Tenant; provisioning: ProvisioningView }> {
  const t = ctx.tenancy();
  const live = ctx.out.live();
  let last: { tenant: Tenant; provisioning: ProvisioningView } | undefined;
  try {
    return await pollUntil(
      async () => {
        const [resolved, provisioning] = await Promise.all([
          t.client.resolveTenant({ key: { case: "tenantId", value: created.id } }, t.call),
          t.client.getProvisioning({ tenantId: created.id }, t.call),
        ]);
        const tenant = resolved.tenant ?? created;
        if (GIVEN_UP.includes(tenant.status))
          throw new CliError(`tenant ${created.slug} is ${tenantView(tenant).status}: its provisioning was abandoned`);
        last = { tenant, provisioning: provisioningView(provisioning) };
        return last;
      },
      (s) => s.tenant.status === TenantStatus.ACTIVE && s.provisioning.complete,
      (s) => {
        const now = Date.now();
        const status = tenantView(s.tenant).status;
        const head = `provisioning ${ctx.out.paint("bold", created.slug)}: tenant ${status}`;
        const summary = provisioningSummary(created.slug, s.provisioning, status, now);
        live.update([head, ...renderSteps(s.provisioning.steps, now, ctx.out.paint)], summary);
      },
      { intervalMs: ctx.pollIntervalMs, timeoutMs: timeoutS * 1000, signal: ctx.signal },
    );
  } catch (err) {
    if (err instanceof TimedOut)
      throw new CliError(
        `${created.slug} is still ${last ? tenantView(last.tenant).status : "provisioning"} after ${timeoutS} s; provisioning goes on in tenancy: ./tessera tenants progress ${created.slug}`,
      );
    throw err;
  } finally {
    live.done();
  }
}

const describe = (t: TenantView) =>
  `${t.slug} (${t.id}): ${t.status}, ${t.tier} tier, plan ${t.plan}, region ${t.region}`;

/** `tenants create`: CreateTenant, then (with --wait) the saga live until ACTIVE. */
export const create: TenantsCommand = {
  name: "create",
  summary: "register a tenant and start its provisioning (--wait: follow it until active)",
  usage:
    "create --slug SLUG --name NAME --plan PLAN [--tier pool|bridge|silo (default: the plan's default tier)] [--region REGION] [--domain DOMAIN]... [--request-id UUID] [--wait [--timeout S]]",
  spec: {
    options: {
      slug: { type: "string", required: true },
      name: { type: "string", required: true },
      plan: { type: "string", required: true },
      tier: { type: "string", values: TIER_NAMES },
      region: { type: "string" },
      domain: { type: "list" },
      "request-id": { type: "string" },
      wait: { type: "boolean" },
      timeout: { type: "string" },
    },
  },
  async run(ctx) {
    const { strings, lists, flags } = ctx.args;
    const requestId = strings["request-id"] ?? randomUUID();
    if (!UUID.test(requestId)) throw new UsageError("--request-id must be a UUID");
    const timeoutS = secondsOption(ctx.args, "timeout", DEFAULT_FOLLOW_TIMEOUT_S);
    if (strings.timeout !== undefined && !flags.wait) throw new UsageError("--timeout goes with --wait");
    const t = ctx.tenancy();
    let tenant: Tenant | undefined;
    try {
      ({ tenant } = await t.client.createTenant(
        {
          requestId: requestId.toLowerCase(),
          slug: strings.slug as string,
          displayName: strings.name as string,
          // unspecified: tenancy gives the plan's default tier (config/plans.yaml)
          tier: strings.tier === undefined ? Tier.UNSPECIFIED : tierFromName(strings.tier),
          plan: strings.plan as string,
          region: strings.region ?? "local",
          verifiedDomains: lists.domain ?? [],
        },
        t.call,
      ));
    } catch (err) {
      throw t.explain(err);
    }
    if (!tenant) throw new CliError("tenancy answered CreateTenant without a tenant");
    if (!flags.wait) {
      const view = tenantView(tenant);
      ctx.out.result({ tenant: view }, () =>
        [
          `created tenant ${describe(view)}`,
          ...(tenant.status === TenantStatus.PROVISIONING
            ? [`provisioning goes on in the background: ./tessera tenants progress ${view.slug}`]
            : []),
        ].join("\n"),
      );
      return 0;
    }
    ctx.out.note(`created tenant ${tenant.slug} (${tenant.id})`);
    const done = await waitUntilActive(ctx, tenant, timeoutS).catch((err: unknown) => {
      throw err instanceof CliError ? err : t.explain(err);
    });
    const view = tenantView(done.tenant);
    ctx.out.result(
      { tenant: view, provisioning: done.provisioning },
      () => `tenant ${describe(view)}\n\n${renderTenant(view, ctx.out.paint)}`,
    );
    return 0;
  },
};
