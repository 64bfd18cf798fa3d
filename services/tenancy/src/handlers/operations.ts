import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { Orm } from "@tessera/platform/db";
import { FailedPrecondition } from "@tessera/platform/errors";
import {
  type Operation,
  OperationSchema,
  OperationState,
  type TenantService,
} from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { TIER_TO_PROTO, tenantToProto, tierFromProto } from "../contract.ts";
import { currentCaller, requirePermission, requireTenantAccess } from "../domain/access.ts";
import type { Tier } from "../domain/model.ts";
import { estimateCopyEnd } from "../domain/operations/move.ts";
import { startDelete, startMove, startUpgrade } from "../domain/operations/start.ts";
import { latestOperation, type OperationRow, operationByRequest, operationTables } from "../domain/operations/store.ts";
import { withTenantScope } from "../domain/scope.ts";
import { getTenant } from "../domain/tenants.ts";
import type { HandlerDeps } from "./context.ts";

type Impl = ServiceImpl<typeof TenantService>;

const STATE: Record<OperationRow["state"], OperationState> = {
  running: OperationState.RUNNING,
  succeeded: OperationState.SUCCEEDED,
  rolled_back: OperationState.ROLLED_BACK,
};

/** The tenant's latest operation as the contract's Operation, with copy progress. */
export async function operationView(orm: Orm, tenantId: string): Promise<Operation | undefined> {
  const op = await latestOperation(orm, tenantId);
  if (!op) return undefined;
  const tables = await withTenantScope(orm, tenantId, (em) => operationTables(em, op.id));
  const fencedEnd = op.switched_at ?? (op.state === "running" ? new Date() : op.updated_at);
  const eta =
    op.phase === "precopy"
      ? estimateCopyEnd(op.created_at, tables)
      : op.phase === "copy"
        ? estimateCopyEnd(op.fenced_at, tables)
        : undefined;
  return create(OperationSchema, {
    id: op.id,
    kind: op.kind,
    state: STATE[op.state],
    phase: op.phase,
    fromTier: TIER_TO_PROTO[op.from_tier as Tier],
    toTier: TIER_TO_PROTO[op.to_tier as Tier],
    tables: tables.map((t) => ({
      table: `${t.service}.${t.table_name}`,
      rowsDone: BigInt(t.rows_done),
      rowsTotal: BigInt(t.rows_total),
    })),
    lastError: op.last_error ?? "",
    attempts: op.attempts,
    createTime: timestampFromDate(op.created_at),
    updateTime: timestampFromDate(op.updated_at),
    ...(eta && { estimatedCopyEndTime: timestampFromDate(eta) }),
    fencedMs: op.fenced_at ? BigInt(Math.max(0, fencedEnd.getTime() - op.fenced_at.getTime())) : 0n,
    exportId: op.export_id ?? "",
  });
}

/** MoveTenant, DeleteTenant, UpgradeTenant, ExportTenant, ReadExport. */
export function operationHandlers(
  deps: HandlerDeps,
): Pick<Impl, "moveTenant" | "deleteTenant" | "upgradeTenant" | "exportTenant" | "readExport"> {
  const { orm } = deps;
  return {
    async moveTenant(req) {
      requirePermission(currentCaller(), "tenant.move");
      const target = tierFromProto(req.targetTier) as Tier;
      const tenantId = req.tenantId.toLowerCase();
      const current = await getTenant(orm, tenantId);
      if ((target === "silo" || current.tier === "silo") && !deps.drivers.compute)
        throw new FailedPrecondition("moves into or out of silo need a compute driver, and none is configured", [
          { field: "target_tier", message: "silo moves are not available in this deployment" },
        ]);
      const driver = deps.drivers.database;
      if (target !== "pool" && !driver)
        throw new FailedPrecondition(`the ${target} tier needs a database driver, and none is configured`, [
          { field: "target_tier", message: `no database driver for ${target}` },
        ]);
      if (req.databaseServer && !driver?.hasServer(req.databaseServer))
        throw new FailedPrecondition("unknown database server", [
          { field: "database_server", message: `no database server "${req.databaseServer}" is configured` },
        ]);
      const op = await startMove(orm, {
        tenantId,
        requestId: req.requestId.toLowerCase(),
        targetTier: target,
        server: req.databaseServer,
      });
      deps.operations.kick(op.id, op.tenant_id);
      return { tenant: tenantToProto(await getTenant(orm, tenantId)), operation: await operationView(orm, tenantId) };
    },

    async deleteTenant(req) {
      requirePermission(currentCaller(), "tenant.delete");
      const tenantId = req.tenantId.toLowerCase();
      const op = await startDelete(orm, tenantId);
      deps.operations.kick(op.id, op.tenant_id);
      return { tenant: tenantToProto(await getTenant(orm, tenantId)), operation: await operationView(orm, tenantId) };
    },

    async upgradeTenant(req, ctx) {
      requirePermission(currentCaller(), "tenant.upgrade");
      const tenantId = req.tenantId.toLowerCase();
      const compute = deps.drivers.compute;
      if (!compute)
        throw new FailedPrecondition("upgrades need a compute driver, and none is configured", [
          { field: "tenant_id", message: "no silo compute in this deployment" },
        ]);
      const tenant = await getTenant(orm, tenantId);
      const targetVersion = await compute.targetVersion(ctx.signal);
      const replay = await operationByRequest(orm, req.requestId.toLowerCase());
      if (!replay && !req.force && tenant.tier === "silo" && tenant.computeVersion === targetVersion)
        return { tenant: tenantToProto(tenant), targetVersion, upToDate: true };
      const op = await startUpgrade(orm, { tenantId, requestId: req.requestId.toLowerCase() });
      deps.operations.kick(op.id, op.tenant_id);
      return {
        tenant: tenantToProto(await getTenant(orm, tenantId)),
        operation: await operationView(orm, tenantId),
        targetVersion,
        upToDate: false,
      };
    },

    async exportTenant(req, ctx) {
      requirePermission(currentCaller(), "tenant.export");
      const bundle = await deps.exporter.create(req.tenantId.toLowerCase(), ctx.signal);
      return {
        exportId: bundle.exportId,
        files: bundle.files.map((f) => ({ ...f, bytes: BigInt(f.bytes), rows: BigInt(f.rows) })),
        manifest: bundle.manifest,
        signature: bundle.signature,
        keyId: bundle.keyId,
      };
    },

    async *readExport(req) {
      requireTenantAccess(currentCaller(), req.tenantId, "tenant.export");
      for await (const chunk of deps.exporter.files(req.tenantId, req.exportId)) yield chunk;
    },
  };
}
