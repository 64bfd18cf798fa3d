import { randomUUID } from "node:crypto";
import {
  type Tenant,
  TenantStatus,
  Tier,
  type UpgradeTenantResponse,
} from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { secondsOption, UsageError } from "./args.ts";
import type { Tenancy } from "./client.ts";
import { type CommandContext, DEFAULT_FOLLOW_TIMEOUT_S, type TenantsCommand } from "./context.ts";
import { CliError, Interrupted } from "./errors.ts";
import { pause, transient } from "./follow.ts";
import { tookOf } from "./move.ts";
import { followOperation } from "./operation.ts";
import { type Outcome, renderReport, type UpgradeReport, whyStopped } from "./upgrade-report.ts";
import { tenantView } from "./views.ts";

const PAGE_SIZE = 200;
/** How long UpgradeTenant is asked again (same request id) while tenancy is unavailable. */
const RETRY_WINDOW_MS = 30_000;

/** Every ACTIVE silo tenant (all pages), oldest first (then by id): the order the fleet is upgraded in. */
export async function activeSiloTenants(t: Tenancy): Promise<Tenant[]> {
  const tenants: Tenant[] = [];
  let pageToken = "";
  try {
    do {
      const res = await t.client.listTenants(
        { page: { pageSize: PAGE_SIZE, pageToken }, status: TenantStatus.ACTIVE, tier: Tier.SILO, plan: "" },
        t.call,
      );
      tenants.push(...res.tenants);
      pageToken = res.page?.nextPageToken ?? "";
    } while (pageToken !== "");
  } catch (err) {
    throw t.explain(err);
  }
  const created = (x: Tenant) => Number(x.createTime?.seconds ?? 0n) * 1e9 + (x.createTime?.nanos ?? 0);
  return tenants.sort((a, b) => created(a) - created(b) || a.id.localeCompare(b.id));
}

/** `tenants` with the canary (named by id or slug, else the first) moved to the front. */
async function canaryFirst(t: Tenancy, tenants: Tenant[], ref: string | undefined): Promise<Tenant[]> {
  if (ref === undefined) return tenants;
  const at = tenants.findIndex((x) => x.id === ref.toLowerCase() || x.slug === ref);
  if (at < 0) {
    const named = tenantView(await t.resolve(ref));
    throw new UsageError(
      `--canary ${ref} is a ${named.tier} tenant, ${named.status}: only active silo tenants are upgraded`,
    );
  }
  return [tenants[at] as Tenant, ...tenants.filter((_, i) => i !== at)];
}

/** UpgradeTenant with one request id, asked again while tenancy is unavailable. */
async function requestUpgrade(ctx: CommandContext, tenantId: string, force: boolean): Promise<UpgradeTenantResponse> {
  const t = ctx.tenancy();
  const requestId = randomUUID();
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await t.client.upgradeTenant({ tenantId, requestId, force }, t.call);
    } catch (err) {
      if (!transient(err) || Date.now() - started > RETRY_WINDOW_MS) throw t.explain(err);
      if (!(await pause(Math.min(500 * 2 ** attempt, 5_000), ctx.signal))) throw new Interrupted();
    }
  }
}

/** Upgrades one tenant and follows the upgrade to its end; never throws but for Ctrl-C. */
async function upgradeOne(
  ctx: CommandContext,
  tenant: Tenant,
  canary: boolean,
  force: boolean,
  timeoutS: number,
): Promise<Outcome> {
  const t = ctx.tenancy();
  const before = tenant.placement?.computeVersion ?? "";
  const outcome: Outcome = {
    id: tenant.id,
    slug: tenant.slug,
    canary,
    result: "failed",
    versionBefore: before,
    versionAfter: before,
    targetVersion: "",
    operation: null,
    error: null,
  };
  try {
    const res = await requestUpgrade(ctx, tenant.id, force);
    outcome.targetVersion = res.targetVersion;
    if (res.upToDate) return { ...outcome, result: "up_to_date" };
    if (!res.operation) throw new CliError("tenancy answered UpgradeTenant without an operation");
    ctx.out.note(`upgrading ${tenant.slug}${canary ? " (canary)" : ""}: ${before || "?"} → ${res.targetVersion}`);
    const op = await followOperation(ctx, { id: tenant.id, slug: tenant.slug }, res.operation, timeoutS);
    outcome.operation = op;
    const after = await t.resolve(tenant.id).then(
      (x) => x.placement?.computeVersion ?? "",
      () => "",
    );
    if (op.state === "succeeded") return { ...outcome, result: "upgraded", versionAfter: after || res.targetVersion };
    return { ...outcome, versionAfter: after || before, error: `rolled back: ${op.lastError || "no reason given"}` };
  } catch (err) {
    if (err instanceof Interrupted) throw err;
    const failure = err instanceof CliError ? err : t.explain(err);
    return { ...outcome, error: failure.message };
  }
}

/**
 * `tenants upgrade`: one silo tenant, or every active one (`--all`) one at a time, canary first,
 * stopping at the first that does not upgrade. Exit 0 when none failed, 1 otherwise, 130 on Ctrl-C.
 */
export const upgrade: TenantsCommand = {
  name: "upgrade",
  summary: "roll silo tenants to the platform's tenant chart version: one, or --all (canary first, stops at a failure)",
  usage: "upgrade (<id|slug> [--force] | --all [--canary <id|slug>]) [--timeout S]",
  spec: {
    options: {
      all: { type: "boolean" },
      canary: { type: "string" },
      force: { type: "boolean" },
      timeout: { type: "string" },
    },
    optionalPositionals: ["tenant"],
  },
  async run(ctx) {
    const { flags, strings, positionals } = ctx.args;
    const ref = positionals.tenant;
    if (strings.canary !== undefined && !flags.all) throw new UsageError("--canary goes with --all");
    if (flags.force && flags.all) throw new UsageError("--force goes with one tenant, not --all");
    if (ref === undefined && !flags.all) throw new UsageError("name a tenant, or --all for every active silo tenant");
    if (ref !== undefined && flags.all) throw new UsageError("a tenant and --all exclude each other");
    const timeoutS = secondsOption(ctx.args, "timeout", DEFAULT_FOLLOW_TIMEOUT_S);
    const t = ctx.tenancy();

    const queue = flags.all
      ? await canaryFirst(t, await activeSiloTenants(t), strings.canary)
      : [await t.resolve(ref as string)];
    const report: UpgradeReport = {
      all: flags.all === true,
      canary: flags.all && queue[0] ? queue[0].slug : null,
      outcomes: queue.map((x, i) => ({
        id: x.id,
        slug: x.slug,
        canary: flags.all === true && i === 0,
        result: "not_attempted",
        versionBefore: x.placement?.computeVersion ?? "",
        versionAfter: x.placement?.computeVersion ?? "",
        targetVersion: "",
        operation: null,
        error: null,
      })),
      interrupted: false,
    };
    if (flags.all)
      ctx.out.note(
        queue.length === 0
          ? "no active silo tenants"
          : `upgrading ${queue.length} active silo tenant${queue.length === 1 ? "" : "s"} one at a time: ${queue.map((x, i) => (i === 0 ? `${x.slug} (canary)` : x.slug)).join(", ")}`,
      );

    for (const [i, tenant] of queue.entries()) {
      const prefix = flags.all ? `[${i + 1}/${queue.length}] ` : "";
      let outcome: Outcome;
      try {
        outcome = await upgradeOne(ctx, tenant, report.outcomes[i]?.canary === true, flags.force === true, timeoutS);
      } catch (err) {
        if (!(err instanceof Interrupted)) throw err;
        report.interrupted = true;
        report.outcomes[i] = { ...(report.outcomes[i] as Outcome), result: "interrupted" };
        break;
      }
      report.outcomes[i] = outcome;
      const took = outcome.operation ? ` in ${tookOf(outcome.operation)}` : "";
      if (outcome.result === "upgraded")
        ctx.out.note(
          `${prefix}${tenant.slug}: upgraded ${outcome.versionBefore || "?"} → ${outcome.versionAfter}${took}`,
        );
      else if (outcome.result === "up_to_date")
        ctx.out.note(`${prefix}${tenant.slug}: up to date (${outcome.targetVersion}), skipped`);
      else {
        ctx.out.note(`${prefix}${tenant.slug}: failed${took}: ${outcome.error}`);
        break;
      }
    }

    const failed = report.outcomes.find((o) => o.result === "failed");
    const stopping = failed ?? report.outcomes.find((o) => o.result === "interrupted");
    const stopped = stopping ? whyStopped(report, stopping) : undefined;
    ctx.out.result(
      {
        ...summaryCounts(report),
        targetVersion: report.outcomes.find((o) => o.targetVersion)?.targetVersion ?? null,
        canary: report.canary,
        tenants: report.outcomes.map((o) => ({ ...o, operation: o.operation ?? null })),
        ...(stopped && {
          error: { code: report.interrupted ? "INTERRUPTED" : "UPGRADE_FAILED", message: stopped },
        }),
      },
      () => renderReport(report, ctx.out.paint),
    );
    if (stopped) ctx.out.warn("upgrade", stopped);
    return report.interrupted ? 130 : failed ? 1 : 0;
  },
};

/** How many tenants ended how. */
function summaryCounts(report: UpgradeReport) {
  const n = (r: Outcome["result"]) => report.outcomes.filter((o) => o.result === r).length;
  return { upgraded: n("upgraded"), upToDate: n("up_to_date"), failed: n("failed"), notAttempted: n("not_attempted") };
}
