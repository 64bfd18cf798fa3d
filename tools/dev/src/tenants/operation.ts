import type { Operation } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import type { CommandContext } from "./context.ts";
import { CliError } from "./errors.ts";
import { pollUntil, TimedOut } from "./follow.ts";
import { operationSummary, renderOperation } from "./render.ts";
import { type OperationView, operationView } from "./views.ts";

/** A move or deletion has ended: SUCCEEDED or ROLLED_BACK. */
export const ended = (op: OperationView) => op.state === "succeeded" || op.state === "rolled_back";

/**
 * Follows a tier move or deletion through GetProvisioning's `operation` until it ends, showing its
 * phase, per-table progress, ETA and fencing time live; resolves with its last state.
 */
export async function followOperation(
  ctx: CommandContext,
  subject: { id: string; slug: string },
  started: Operation,
  timeoutS: number,
): Promise<OperationView> {
  const t = ctx.tenancy();
  const live = ctx.out.live();
  let current = operationView(started);
  const show = (op: OperationView) => {
    const now = Date.now();
    const { key, line } = operationSummary(op, subject.slug, now);
    live.update(renderOperation(op, subject.slug, now, ctx.out.paint), key, line);
  };
  try {
    show(current);
    if (ended(current)) return current;
    return await pollUntil(
      async () => {
        const { operation } = await t.client.getProvisioning({ tenantId: subject.id }, t.call);
        if (!operation) return current;
        if (operation.id !== started.id)
          throw new CliError(
            `operation ${started.id} is no longer ${subject.slug}'s latest (now ${operation.kind} ${operation.id}): ./tessera tenants progress ${subject.slug}`,
          );
        current = operationView(operation);
        return current;
      },
      ended,
      show,
      { intervalMs: ctx.pollIntervalMs, timeoutMs: timeoutS * 1000, signal: ctx.signal },
    );
  } catch (err) {
    if (err instanceof TimedOut)
      throw new CliError(
        `the ${current.kind || "operation"} of ${subject.slug} is still in phase ${current.phase || "-"} after ${timeoutS} s; it goes on in tenancy: ./tessera tenants progress ${subject.slug}`,
      );
    throw err instanceof CliError ? err : t.explain(err);
  } finally {
    live.done();
  }
}
