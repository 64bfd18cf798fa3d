import type { Tenant } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import type { TenantsCommand } from "./context.ts";
import { renderTenantTable } from "./render.ts";
import { STATUS_NAMES, statusFromName, TIER_NAMES, tenantView, tierFromName } from "./views.ts";

const PAGE_SIZE = 200;

/** `tenants list`: every tenant matching the filters (all pages), newest first. */
export const list: TenantsCommand = {
  name: "list",
  summary: "list tenants, newest first",
  usage: `list [--status ${STATUS_NAMES.join("|")}] [--tier pool|bridge|silo] [--plan PLAN]`,
  spec: {
    options: {
      status: { type: "string", values: STATUS_NAMES },
      tier: { type: "string", values: TIER_NAMES },
      plan: { type: "string" },
    },
  },
  async run(ctx) {
    const { strings } = ctx.args;
    const t = ctx.tenancy();
    const tenants: Tenant[] = [];
    let pageToken = "";
    try {
      do {
        const res = await t.client.listTenants(
          {
            page: { pageSize: PAGE_SIZE, pageToken },
            ...(strings.status && { status: statusFromName(strings.status) }),
            ...(strings.tier && { tier: tierFromName(strings.tier) }),
            plan: strings.plan ?? "",
          },
          t.call,
        );
        tenants.push(...res.tenants);
        pageToken = res.page?.nextPageToken ?? "";
      } while (pageToken !== "");
    } catch (err) {
      throw t.explain(err);
    }
    const views = tenants.map(tenantView);
    ctx.out.result({ tenants: views }, () => renderTenantTable(views));
    return 0;
  },
};
