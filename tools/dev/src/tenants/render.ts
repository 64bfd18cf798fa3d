import { formatDuration, renderTable } from "../table.ts";
import type { OperationView, ProvisioningView, StepView, TenantView } from "./views.ts";

/** Colours a piece of text (identity when colours are off). */
export type Paint = (style: "green" | "red" | "yellow" | "dim" | "bold", text: string) => string;
export const noPaint: Paint = (_style, text) => text;

const ago = (time: string | null, now: number): string =>
  time ? `${formatDuration(Math.max(0, now - Date.parse(time)))} ago` : "-";

/** Key/value lines with the keys aligned. */
function fields(pairs: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
}

/** `active` in green, `suspended` in yellow, … */
export function paintStatus(status: string, paint: Paint): string {
  if (status === "active" || status === "succeeded" || status === "done") return paint("green", status);
  if (status === "suspended" || status === "offboarding" || status === "running" || status === "provisioning")
    return paint("yellow", status);
  if (status === "deleted" || status === "failed" || status === "rolled_back") return paint("red", status);
  return status;
}

/** One tenant, field by field. */
export function renderTenant(t: TenantView, paint: Paint = noPaint): string {
  const pairs: Array<[string, string]> = [
    ["tenant", `${paint("bold", t.slug)} (${t.displayName})`],
    ["id", t.id],
    ["status", paintStatus(t.status, paint)],
    ["tier", t.tier],
    ["plan", t.plan],
    ["region", t.region],
    ["domains", t.verifiedDomains.length > 0 ? t.verifiedDomains.join(", ") : "-"],
  ];
  if (t.placement) {
    pairs.push(["database", t.placement.database || "-"], ["namespace", t.placement.namespace || "-"]);
    const endpoints = Object.entries(t.placement.endpoints);
    if (endpoints.length > 0) pairs.push(["endpoints", endpoints.map(([s, u]) => `${s}=${u}`).join(", ")]);
    if (t.placement.computeVersion) pairs.push(["compute", `version ${t.placement.computeVersion}`]);
    if (t.placement.writesFenced) pairs.push(["writes", paint("yellow", "fenced (a tier move is under way)")]);
  }
  pairs.push(["created", t.createTime ?? "-"], ["updated", t.updateTime ?? "-"]);
  return fields(pairs);
}

/** The tenants table of `list`. */
export function renderTenantTable(tenants: readonly TenantView[]): string {
  if (tenants.length === 0) return "no tenants match";
  const table = renderTable(
    ["slug", "id", "status", "tier", "plan", "region", "created"],
    tenants.map((t) => [t.slug, t.id, t.status, t.tier, t.plan, t.region, t.createTime?.slice(0, 19) ?? "-"]),
  );
  return `${table}\n${tenants.length} tenant${tenants.length === 1 ? "" : "s"}`;
}

const stepIcon = (state: string, paint: Paint) =>
  state === "done"
    ? paint("green", "✓")
    : state === "failed"
      ? paint("red", "✗")
      : state === "running"
        ? paint("yellow", "…")
        : paint("dim", "·");

/** What a step is waiting for, if anything: its last error and next attempt. */
function stepNote(s: StepView, now: number): string {
  if (s.state !== "failed" || !s.lastError) return s.state === "running" ? `attempt ${s.attempts}` : "";
  const next = s.nextAttemptTime
    ? `; retry in ${formatDuration(Math.max(0, Date.parse(s.nextAttemptTime) - now))}`
    : "";
  return `attempt ${s.attempts} failed: ${s.lastError}${next}`;
}

/** The provisioning saga as lines: one per step, with an icon. */
export function renderSteps(steps: readonly StepView[], now: number, paint: Paint = noPaint): string[] {
  const width = Math.max(0, ...steps.map((s) => s.name.length));
  return steps.map((s) => {
    const note = stepNote(s, now);
    return `  ${stepIcon(s.state, paint)} ${s.name.padEnd(width)}  ${paintStatus(s.state, paint)}${note ? `  ${note}` : ""}`;
  });
}

/** One line for a non-terminal display: the saga's state, changing whenever a step does. */
export function provisioningSummary(slug: string, p: ProvisioningView, status: string, now: number): string {
  const done = p.steps.filter((s) => s.state === "done").length;
  const current = p.steps.find((s) => s.state !== "done");
  const head = `provisioning ${slug}: ${done}/${p.steps.length} steps done, tenant ${status}`;
  if (!current) return head;
  const note = stepNote(current, now).replace(/; retry in .*$/, "");
  return `${head}; ${current.name} ${current.state}${note ? ` (${note})` : ""}`;
}

/** `[██████░░░░░░]`. */
export function bar(fraction: number, width = 24): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const full = Math.round(f * width);
  return `[${"█".repeat(full)}${"░".repeat(width - full)}]`;
}

const percent = (done: number, total: number) => (total > 0 ? `${Math.floor((100 * done) / total)}%` : "-");
const count = (n: number) => n.toLocaleString("en-US");

/** Rows copied over all tables. */
export function rowsOf(op: OperationView): { done: number; total: number } {
  return op.tables.reduce((a, t) => ({ done: a.done + t.rowsDone, total: a.total + t.rowsTotal }), {
    done: 0,
    total: 0,
  });
}

/** `move pool → bridge` or `delete`. */
const title = (op: OperationView) =>
  op.kind === "move" ? `move ${op.fromTier} → ${op.toTier}` : op.kind || "operation";

/** ETA and fencing, as far as they are known. */
function timing(op: OperationView, now: number): string[] {
  const parts: string[] = [];
  if (op.state === "running" && op.estimatedCopyEndTime)
    parts.push(`ETA ${formatDuration(Math.max(0, Date.parse(op.estimatedCopyEndTime) - now))}`);
  if (op.fencedMs > 0) parts.push(`writes fenced ${formatDuration(op.fencedMs)}`);
  return parts;
}

/** The live block of a move or deletion: phase, overall bar, a bar per table, the last error. */
export function renderOperation(op: OperationView, subject: string, now: number, paint: Paint = noPaint): string[] {
  const attempt = op.attempts > 1 ? ` (attempt ${op.attempts})` : "";
  const lines = [
    `${paint("bold", title(op))} of ${subject}: ${paintStatus(op.state, paint)}, phase ${paint("bold", op.phase || "-")}${attempt}`,
  ];
  const rows = rowsOf(op);
  if (op.tables.length > 0) {
    const extra = timing(op, now);
    lines.push(
      `  ${bar(rows.total > 0 ? rows.done / rows.total : 0)} ${percent(rows.done, rows.total).padStart(4)}  ${count(rows.done)}/${count(rows.total)} rows${extra.length > 0 ? `  ${extra.join("  ")}` : ""}`,
    );
    const width = Math.max(...op.tables.map((t) => t.table.length));
    for (const t of op.tables)
      lines.push(
        `    ${t.table.padEnd(width)} ${bar(t.rowsTotal > 0 ? t.rowsDone / t.rowsTotal : 0, 16)} ${percent(t.rowsDone, t.rowsTotal).padStart(4)}  ${count(t.rowsDone)}/${count(t.rowsTotal)}`,
      );
  } else {
    const extra = timing(op, now);
    if (extra.length > 0) lines.push(`  ${extra.join("  ")}`);
  }
  if (op.exportId) lines.push(`  export bundle ${op.exportId}`);
  if (op.lastError)
    lines.push(`  ${paint(op.state === "rolled_back" ? "red" : "yellow", `last error: ${op.lastError}`)}`);
  return lines;
}

/**
 * One line of a move or deletion for a non-terminal display: `key` changes with phase, state,
 * rows or error (not with the clock); `line` adds ETA and fencing time as they are now.
 */
export function operationSummary(op: OperationView, subject: string, now: number): { key: string; line: string } {
  const parts = [`${title(op)} of ${subject}: ${op.state}, phase ${op.phase || "-"}`];
  const rows = rowsOf(op);
  if (op.tables.length > 0)
    parts.push(`${count(rows.done)}/${count(rows.total)} rows (${percent(rows.done, rows.total)})`);
  if (op.attempts > 1) parts.push(`attempt ${op.attempts}`);
  if (op.lastError) parts.push(`last error: ${op.lastError}`);
  const key = parts.join(", ");
  return { key, line: [key, ...timing(op, now)].join(", ") };
}

/** `show` and `progress`: the saga's steps, and the latest operation if any. */
export function renderProvisioning(p: ProvisioningView, subject: string, now: number, paint: Paint = noPaint): string {
  const done = p.steps.filter((s) => s.state === "done").length;
  const lines = [
    `provisioning: ${p.complete ? paint("green", "complete") : paint("yellow", "in progress")} (${done}/${p.steps.length} steps)`,
    ...renderSteps(p.steps, now, paint),
  ];
  if (p.operation) {
    lines.push("", ...renderOperation(p.operation, subject, now, paint));
    lines.push(`  started ${ago(p.operation.createTime, now)}, updated ${ago(p.operation.updateTime, now)}`);
  } else lines.push("", "no tier move, deletion or upgrade so far");
  return lines.join("\n");
}
