import { randomUUID } from "node:crypto";
import { UniqueConstraintViolationException } from "@mikro-orm/core";
import type { Orm } from "@tessera/platform/db";
import { FailedPrecondition, NotFound } from "@tessera/platform/errors";
import { TENANT_NOT_FOUND } from "../access.ts";
import { Tenant } from "../entities.ts";
import type { Tier } from "../model.ts";
import { withTenantScope } from "../scope.ts";
import { latestOperation, normalizeOperation, type OperationRow, operationByRequest } from "./store.ts";

/** What MoveTenant asks for, after the contract's checks. */
export interface MoveRequest {
  readonly tenantId: string;
  readonly requestId: string;
  readonly targetTier: Tier;
  readonly server: string;
}

async function insert(orm: Orm, tenantId: string, values: Record<string, unknown>): Promise<OperationRow> {
  return withTenantScope(orm, tenantId, async (em) => {
    const cols = Object.keys(values);
    const rows = await em.execute<OperationRow[]>(
      `insert into tenant_operations (${cols.map((c) => `"${c}"`).join(", ")}) values (${cols.map(() => "?").join(", ")}) returning *`,
      Object.values(values),
    );
    return normalizeOperation(rows[0]) as OperationRow;
  });
}

/** Records a tier move (or returns the one this request id started); the runner carries it out. */
export async function startMove(orm: Orm, req: MoveRequest): Promise<OperationRow> {
  const replay = await operationByRequest(orm, req.requestId);
  if (replay) {
    if (replay.tenant_id !== req.tenantId || replay.kind !== "move" || replay.to_tier !== req.targetTier)
      throw new FailedPrecondition("request_id was already used for another operation");
    return replay;
  }
  const tenant = await withTenantScope(orm, req.tenantId, (em) => em.findOne(Tenant, { id: req.tenantId }));
  if (!tenant) throw new NotFound(TENANT_NOT_FOUND);
  if (tenant.status !== "active")
    throw new FailedPrecondition(`only an active tenant can move; it is ${tenant.status}`);
  if (tenant.tier === req.targetTier)
    throw new FailedPrecondition(`the tenant is already in the ${req.targetTier} tier`);
  try {
    return await insert(orm, req.tenantId, {
      id: randomUUID(),
      tenant_id: req.tenantId,
      kind: "move",
      request_id: req.requestId,
      state: "running",
      phase: "prepare",
      from_tier: tenant.tier,
      to_tier: req.targetTier,
      source_database: tenant.placementDatabase || "pool",
      target_server: req.server,
    });
  } catch (err) {
    if (err instanceof UniqueConstraintViolationException) {
      const again = await operationByRequest(orm, req.requestId);
      if (again) return again;
      throw new FailedPrecondition("another move or deletion of this tenant is running");
    }
    throw err;
  }
}

/** Records the upgrade of a silo tenant's compute (or returns the one this request id started). */
export async function startUpgrade(orm: Orm, req: { tenantId: string; requestId: string }): Promise<OperationRow> {
  const replay = await operationByRequest(orm, req.requestId);
  if (replay) {
    if (replay.tenant_id !== req.tenantId || replay.kind !== "upgrade")
      throw new FailedPrecondition("request_id was already used for another operation");
    return replay;
  }
  const tenant = await withTenantScope(orm, req.tenantId, (em) => em.findOne(Tenant, { id: req.tenantId }));
  if (!tenant) throw new NotFound(TENANT_NOT_FOUND);
  if (tenant.status !== "active")
    throw new FailedPrecondition(`only an active tenant can be upgraded; it is ${tenant.status}`);
  if (tenant.tier !== "silo")
    throw new FailedPrecondition(`only a silo tenant runs its own compute; it is in the ${tenant.tier} tier`);
  try {
    return await insert(orm, req.tenantId, {
      id: randomUUID(),
      tenant_id: req.tenantId,
      kind: "upgrade",
      request_id: req.requestId,
      state: "running",
      phase: "upgrade",
      from_tier: tenant.tier,
      to_tier: tenant.tier,
      source_database: tenant.placementDatabase,
    });
  } catch (err) {
    if (err instanceof UniqueConstraintViolationException) {
      const again = await operationByRequest(orm, req.requestId);
      if (again) return again;
      throw new FailedPrecondition("another operation of this tenant is running");
    }
    throw err;
  }
}

/** Records the deletion of an offboarding tenant (or returns the one already running). */
export async function startDelete(orm: Orm, tenantId: string): Promise<OperationRow> {
  const tenant = await withTenantScope(orm, tenantId, (em) => em.findOne(Tenant, { id: tenantId }));
  if (!tenant) throw new NotFound(TENANT_NOT_FOUND);
  const latest = await latestOperation(orm, tenantId);
  if (latest?.kind === "delete" && (latest.state === "running" || tenant.status === "deleted")) return latest;
  if (tenant.status !== "offboarding")
    throw new FailedPrecondition(`only an offboarding tenant can be deleted; it is ${tenant.status}`);
  try {
    return await insert(orm, tenantId, {
      id: randomUUID(),
      tenant_id: tenantId,
      kind: "delete",
      state: "running",
      phase: "export",
      from_tier: tenant.tier,
      to_tier: tenant.tier,
      source_database: tenant.placementDatabase || "pool",
    });
  } catch (err) {
    if (err instanceof UniqueConstraintViolationException)
      throw new FailedPrecondition("another move or deletion of this tenant is running");
    throw err;
  }
}
