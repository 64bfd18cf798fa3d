import { renderTable } from "../table.ts";
import type { Paint } from "./render.ts";
import type { OperationView } from "./views.ts";

/** How one tenant's upgrade ended. */
export interface Outcome {
  id: string;
  slug: string;
  /** Upgraded first, before any other tenant (`--all`). */
  canary: boolean;
  /** `failed`: the upgrade rolled back or could not start; `not_attempted`: an earlier one failed. */
  result: "upgraded" | "up_to_date" | "failed" | "not_attempted" | "interrupted";
  /** The tenant chart version it ran before ("" when unknown). */
  versionBefore: string;
  /** The version it runs now (`versionBefore` unless upgraded). */
  versionAfter: string;
  /** The version tenancy rolls to (from UpgradeTenant; "" when not asked). */
  targetVersion: string;
  operation: OperationView | null;
  /** Why it failed: the rollback's reason or the call's error. */
  error: string | null;
}

/** A whole `upgrade` run, tenant by tenant in the order they were (or would have been) upgraded. */
export interface UpgradeReport {
  all: boolean;
  canary: string | null;
  outcomes: Outcome[];
  interrupted: boolean;
}

/** Longest reason the summary table shows. */
const REASON_WIDTH = 120;

const RESULT: Readonly<Record<Outcome["result"], string>> = {
  upgraded: "upgraded",
  up_to_date: "up to date",
  failed: "failed",
  not_attempted: "not attempted",
  interrupted: "interrupted",
};

const paintResult = (r: Outcome["result"], paint: Paint) =>
  r === "upgraded" || r === "up_to_date"
    ? paint("green", RESULT[r])
    : r === "failed"
      ? paint("red", RESULT[r])
      : paint("yellow", RESULT[r]);

/** One sentence: which tenant stopped the run, why, and what was left. */
export function whyStopped(report: UpgradeReport, stopper: Outcome): string {
  const left = report.outcomes.filter((o) => o.result === "not_attempted").map((o) => o.slug);
  const who = `${stopper.slug}${stopper.canary ? " (canary)" : ""}`;
  const head =
    stopper.result === "interrupted"
      ? `stopped following the upgrade of ${who} (it goes on in tenancy: ./tessera tenants progress ${stopper.slug})`
      : `the upgrade of ${who}${stopper.targetVersion ? ` to ${stopper.targetVersion}` : ""} failed: ${stopper.error ?? "no reason given"}; it runs ${stopper.versionAfter || "its previous version"}`;
  return left.length === 0
    ? head
    : `${head}; stopped, ${left.length} tenant${left.length === 1 ? "" : "s"} not attempted (${left.join(", ")})`;
}

/** The summary: a line of counts and a row per tenant (before, after, result, reason). */
export function renderReport(report: UpgradeReport, paint: Paint): string {
  if (report.outcomes.length === 0) return "no active silo tenants: nothing to upgrade";
  const count = (r: Outcome["result"]) => report.outcomes.filter((o) => o.result === r).length;
  const target = report.outcomes.find((o) => o.targetVersion)?.targetVersion;
  const counts = (["upgraded", "up_to_date", "failed", "not_attempted", "interrupted"] as const)
    .filter((r) => count(r) > 0 || r === "upgraded" || r === "failed")
    .map((r) => `${count(r)} ${RESULT[r]}`)
    .join(", ");
  const rows = report.outcomes.map((o) => [
    `${o.slug}${o.canary ? " (canary)" : ""}`,
    o.versionBefore || "-",
    o.result === "not_attempted" ? "-" : o.versionAfter || "-",
    RESULT[o.result],
    // stderr carries the whole reason
    o.error && o.error.length > REASON_WIDTH ? `${o.error.slice(0, REASON_WIDTH - 1)}…` : (o.error ?? ""),
  ]);
  // the table is padded on plain text; colour goes onto the result column afterwards
  const table = renderTable(["tenant", "before", "after", "result", "reason"], rows)
    .split("\n")
    .map((line, i) => {
      const o = report.outcomes[i - 2];
      return o ? line.replace(RESULT[o.result], paintResult(o.result, paint)) : line;
    })
    .join("\n");
  return `upgrade${target ? ` to ${target}` : ""}: ${counts}\n${table}`;
}
