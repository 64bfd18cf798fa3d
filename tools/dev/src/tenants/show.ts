import type { TenantsCommand } from "./context.ts";
import type { CliError } from "./errors.ts";
import { renderProvisioning, renderTenant } from "./render.ts";
import { type ProvisioningView, provisioningView, tenantView } from "./views.ts";

/** `tenants show`: the tenant, its placement, its provisioning and its latest move or deletion. */
export const show: TenantsCommand = {
  name: "show",
  summary: "one tenant: status, tier, placement, provisioning and its latest move or deletion",
  usage: "show <id|slug>",
  spec: { options: {}, positionals: ["tenant"] },
  async run(ctx) {
    const t = ctx.tenancy();
    const tenant = await t.resolve(ctx.args.positionals.tenant as string);
    const view = tenantView(tenant);
    // the tenant is worth showing even when its provisioning cannot be read (exit code 1 then)
    let provisioning: ProvisioningView | undefined;
    let failure: CliError | undefined;
    try {
      provisioning = provisioningView(await t.client.getProvisioning({ tenantId: tenant.id }, t.call));
    } catch (err) {
      failure = t.explain(err);
    }
    ctx.out.result(
      {
        tenant: view,
        provisioning: provisioning ? { complete: provisioning.complete, steps: provisioning.steps } : null,
        operation: provisioning?.operation ?? null,
        ...(failure && { error: { code: failure.code ?? null, message: failure.message } }),
      },
      () =>
        `${renderTenant(view, ctx.out.paint)}\n\n${
          provisioning
            ? renderProvisioning(provisioning, view.slug, Date.now(), ctx.out.paint)
            : "provisioning: could not be read"
        }`,
    );
    if (!failure) return 0;
    ctx.out.warn("show", `reading the provisioning of ${view.slug} failed: ${failure.message}`);
    return failure.exitCode;
  },
};
