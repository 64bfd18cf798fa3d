import { randomUUID } from "node:crypto";
import { formatDuration } from "../table.ts";
import { secondsOption, UsageError } from "./args.ts";
import { DEFAULT_FOLLOW_TIMEOUT_S, type TenantsCommand } from "./context.ts";
import { CliError } from "./errors.ts";
import { ended, followOperation } from "./operation.ts";
import { renderOperation } from "./render.ts";
import { type OperationView, operationView, tenantView, tierFromName } from "./views.ts";

const SERVER = /^[a-z][a-z0-9-]{0,30}$/;

/** How long it took, from the operation's own timestamps. */
export const tookOf = (op: OperationView): string =>
  op.createTime && op.updateTime ? formatDuration(Date.parse(op.updateTime) - Date.parse(op.createTime)) : "?";

/** `tenants move`: MoveTenant, then its phases live until SUCCEEDED (exit 0) or ROLLED_BACK (exit 1). */
export const move: TenantsCommand = {
  name: "move",
  summary: "move a tenant to another tier (pool, bridge, silo), following the move live",
  usage: "move <id|slug> --to pool|bridge|silo [--server NAME] [--no-wait] [--timeout S]",
  spec: {
    options: {
      to: { type: "string", required: true, values: ["pool", "bridge", "silo"] },
      server: { type: "string" },
      "no-wait": { type: "boolean" },
      timeout: { type: "string" },
    },
    positionals: ["tenant"],
  },
  async run(ctx) {
    const { strings, flags } = ctx.args;
    const server = strings.server ?? "";
    if (server !== "" && !SERVER.test(server))
      throw new UsageError("--server must be a configured database server's name (lowercase letters, digits, hyphens)");
    if (server !== "" && strings.to === "pool") throw new UsageError("--server goes with --to bridge or silo");
    const timeoutS = secondsOption(ctx.args, "timeout", DEFAULT_FOLLOW_TIMEOUT_S);
    const t = ctx.tenancy();
    const tenant = await t.resolve(ctx.args.positionals.tenant as string);
    const res = await t.client
      .moveTenant(
        {
          tenantId: tenant.id,
          requestId: randomUUID(),
          targetTier: tierFromName(strings.to as string),
          databaseServer: server,
        },
        t.call,
      )
      .catch((err: unknown) => {
        throw t.explain(err);
      });
    if (!res.operation) throw new CliError("tenancy answered MoveTenant without an operation");
    const subject = { id: tenant.id, slug: tenant.slug };
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
    const op = await followOperation(ctx, subject, res.operation, timeoutS);
    const after = tenantView(await t.resolve(tenant.id));
    if (op.state === "succeeded") {
      ctx.out.result({ tenant: after, operation: op }, () =>
        [
          `moved ${after.slug} from ${op.fromTier} to ${op.toTier} in ${tookOf(op)} (writes fenced ${formatDuration(op.fencedMs)})`,
          `placement: database ${after.placement?.database ?? "-"}, namespace ${after.placement?.namespace ?? "-"}`,
        ].join("\n"),
      );
      return 0;
    }
    const why = `the move of ${after.slug} to ${op.toTier} rolled back: ${op.lastError || "no reason given"}; the tenant stays ${after.tier}`;
    ctx.out.result(
      { tenant: after, operation: op, error: { code: "ROLLED_BACK", message: why } },
      () => `move rolled back after ${tookOf(op)}; ${after.slug} stays ${after.tier}`,
    );
    ctx.out.warn("move", why);
    return 1;
  },
};
