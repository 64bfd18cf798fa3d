import type { ServiceImpl } from "@connectrpc/connect";
import { InvalidArgument } from "@tessera/platform/errors";
import type { AuditService } from "@tessera/proto/tessera/audit/v1/audit_pb";
import { checkpointToProto, FINDINGS, statementToProto } from "../convert.ts";
import { readableTenant } from "../domain/access.ts";
import { verifyAnchored } from "../domain/anchor.ts";
import type { HandlerDeps } from "./context.ts";

function sequence(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new InvalidArgument(`${field} is too large`, [{ field, message: "must be at most 2^53 - 1" }]);
  }
  return Number(value);
}

/**
 * VerifyChain: recomputes a tenant's chain (or a range of it) in one snapshot, then checks it
 * against the published signed head and the signed retention checkpoint.
 */
export function verifyHandlers(deps: HandlerDeps): Pick<ServiceImpl<typeof AuditService>, "verifyChain"> {
  return {
    async verifyChain(req) {
      const tenantId = readableTenant(req.tenantId);
      const from = sequence(req.fromSequence, "from_sequence");
      const to = sequence(req.toSequence, "to_sequence");
      if (to !== 0 && to < from) {
        throw new InvalidArgument("empty range", [{ field: "to_sequence", message: "must be at least from_sequence" }]);
      }
      const result = await verifyAnchored(deps, tenantId, { from, to });
      return {
        ok: result.ok,
        firstBrokenSequence: BigInt(result.firstBrokenSeq ?? 0),
        reason: result.reason ?? "",
        fromSequence: BigInt(result.from),
        toSequence: BigInt(result.to),
        verifiedCount: BigInt(result.verified),
        ...(result.checkpoint && { checkpoint: checkpointToProto(result.checkpoint) }),
        finding: FINDINGS[result.finding],
        ...(result.publishedHead && { publishedHead: statementToProto(result.publishedHead) }),
        unsignedCount: BigInt(result.unsignedCount),
        anchored: result.anchored,
        anchorNote: result.anchorNote ?? "",
      };
    },
  };
}
