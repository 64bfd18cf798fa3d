import { createInterface } from "node:readline/promises";
import { secondsOption, UsageError } from "./args.ts";
import { DEFAULT_FOLLOW_TIMEOUT_S, type TenantsCommand } from "./context.ts";
import { CliError } from "./errors.ts";
import { tookOf } from "./move.ts";
import { ended, followOperation } from "./operation.ts";
import { renderOperation } from "./render.ts";
import { operationView, tenantView } from "./views.ts";

/** Asks the operator to type the slug; true when they did. */
async function confirmBySlug(slug: string, id: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(
      `This deletes tenant ${slug} (${id}) and all its data in every service (an export bundle is made first).\nType the slug to confirm: `,
    );
    return answer.trim() === slug;
  } finally {
    rl.close();
  }
}

/** `tenants delete`: DeleteTenant of an offboarded tenant, then its phases live until it ends. */
export const del: TenantsCommand = {
  name: "delete",
  summary: "delete an offboarded tenant's data everywhere (export first), following the deletion",
  usage: "delete <id|slug> [--yes] [--no-wait] [--timeout S]",
  spec: {
    options: { yes: { type: "boolean" }, "no-wait": { type: "boolean" }, timeout: { type: "string" } },
    positionals: ["tenant"],
  },
  async run(ctx) {
    const { flags } = ctx.args;
    const timeoutS = secondsOption(ctx.args, "timeout", DEFAULT_FOLLOW_TIMEOUT_S);
    const interactive = process.stdin.isTTY === true && !ctx.out.json;
    if (!flags.yes && !interactive)
      throw new UsageError("deleting a tenant needs --yes (or a terminal to type the slug into)");
    const t = ctx.tenancy();
    const tenant = await t.resolve(ctx.args.positionals.tenant as string);
    if (!flags.yes && !(await confirmBySlug(tenant.slug, tenant.id)))
      throw new CliError(`the slug typed was not "${tenant.slug}": nothing was deleted`);
    const res = await t.client.deleteTenant({ tenantId: tenant.id }, t.call).catch((err: unknown) => {
      throw t.explain(err);
    });
    if (!res.operation) throw new CliError("tenancy answered DeleteTenant without an operation");
    if (flags["no-wait"]) {
      const op = operationView(res.operation);
      ctx.out.result({ tenant: tenantView(res.tenant ?? tenant), operation: op }, () =>
        [
          ...renderOperation(op, tenant.slug, Date.now(), ctx.out.paint),
          ended(op) ? "" : `follow it with ./tessera tenants progress ${tenant.slug}`,
        ]
          .filter((l) => l !== "")
          .join("\n"),
      );
      return op.state === "rolled_back" ? 1 : 0;
    }
    const op = await followOperation(ctx, { id: tenant.id, slug: tenant.slug }, res.operation, timeoutS);
    // a deleted tenant may be gone from the registry altogether
    const after = await t.resolve(tenant.id).then(tenantView, (err: unknown) => {
      if (err instanceof CliError && err.code === "NOT_FOUND" && op.state === "succeeded")
        return { ...tenantView(tenant), status: "deleted" };
      throw err;
    });
    if (op.state === "succeeded") {
      ctx.out.result(
        { tenant: after, operation: op },
        () =>
          `deleted ${after.slug} (${after.id}) in ${tookOf(op)}: status ${after.status}${op.exportId ? `; export bundle ${op.exportId}` : ""}`,
      );
      return 0;
    }
    const why = `the deletion of ${after.slug} rolled back: ${op.lastError || "no reason given"}; the tenant stays ${after.status}`;
    ctx.out.result(
      { tenant: after, operation: op, error: { code: "ROLLED_BACK", message: why } },
      () => `deletion rolled back after ${tookOf(op)}`,
    );
    ctx.out.warn("delete", why);
    return 1;
  },
};
