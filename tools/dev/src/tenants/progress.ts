import type { TenantsCommand } from "./context.ts";
import { renderProvisioning } from "./render.ts";
import { provisioningView, tenantView } from "./views.ts";

/** `tenants progress`: GetProvisioning once (saga steps and the latest move or deletion). */
export const progress: TenantsCommand = {
  name: "progress",
  summary: "the provisioning saga and the latest move or deletion, once",
  usage: "progress <id|slug>",
  spec: { options: {}, positionals: ["tenant"] },
  async run(ctx) {
    const t = ctx.tenancy();
    const tenant = await t.resolve(ctx.args.positionals.tenant as string);
    const provisioning = provisioningView(
      await t.client.getProvisioning({ tenantId: tenant.id }, t.call).catch((err: unknown) => {
        throw t.explain(err);
      }),
    );
    const view = tenantView(tenant);
    ctx.out.result(
      { tenant: { id: view.id, slug: view.slug, status: view.status, tier: view.tier }, ...provisioning },
      () =>
        `${view.slug} (${view.id}): ${view.status}, ${view.tier} tier\n${renderProvisioning(provisioning, view.slug, Date.now(), ctx.out.paint)}`,
    );
    return 0;
  },
};
