import type { Tenant } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import type { Tenancy } from "./client.ts";
import type { TenantsCommand } from "./context.ts";
import { CliError } from "./errors.ts";
import { tenantView } from "./views.ts";

/** Why, when the operator gives none (the contract requires a reason). */
const DEFAULT_REASON = "operator request (./tessera tenants)";

function lifecycleCommand(
  name: string,
  summary: string,
  withReason: boolean,
  change: (t: Tenancy, tenantId: string, reason: string) => Promise<{ tenant?: Tenant | undefined }>,
): TenantsCommand {
  return {
    name,
    summary,
    usage: `${name} <id|slug>${withReason ? " [--reason TEXT]" : ""}`,
    spec: { options: withReason ? { reason: { type: "string" } } : {}, positionals: ["tenant"] },
    async run(ctx) {
      const t = ctx.tenancy();
      const before = await t.resolve(ctx.args.positionals.tenant as string);
      const { tenant } = await change(t, before.id, ctx.args.strings.reason ?? DEFAULT_REASON).catch((err: unknown) => {
        throw t.explain(err);
      });
      if (!tenant) throw new CliError(`tenancy answered without the tenant`);
      const view = tenantView(tenant);
      const was = tenantView(before).status;
      ctx.out.result({ tenant: view, previousStatus: was }, () =>
        was === view.status
          ? `${view.slug} (${view.id}) was already ${view.status}: nothing changed`
          : `${view.slug} (${view.id}): ${was} → ${ctx.out.paint("bold", view.status)}`,
      );
      return 0;
    },
  };
}

/** `tenants suspend`: its users and keys are refused everywhere until resumed. */
export const suspend = lifecycleCommand(
  "suspend",
  "refuse the tenant's users and keys everywhere until resumed",
  true,
  (t, tenantId, reason) => t.client.suspendTenant({ tenantId, reason }, t.call),
);

/** `tenants resume`: lifts a suspension. */
export const resume = lifecycleCommand("resume", "lift a suspension", false, (t, tenantId) =>
  t.client.resumeTenant({ tenantId }, t.call),
);

/** `tenants offboard`: the step before deletion; users and keys are refused from then on. */
export const offboard = lifecycleCommand(
  "offboard",
  "start offboarding (users and keys refused; the step before delete)",
  true,
  (t, tenantId, reason) => t.client.offboardTenant({ tenantId, reason }, t.call),
);
