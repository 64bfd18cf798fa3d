import { randomUUID } from "node:crypto";
import { type FilterQuery, LockMode, UniqueConstraintViolationException } from "@mikro-orm/core";
import type { Orm, TxEntityManager } from "@tessera/platform/db";
import { AlreadyExists, FailedPrecondition, InvalidArgument, NotFound } from "@tessera/platform/errors";
import { getPlan, isPlanId, PLAN_IDS, type PlanId } from "@tessera/platform/plans";
import { publishTenantEvent } from "../events/publish-tenant-event.ts";
import { TENANT_NOT_FOUND } from "./access.ts";
import { decodeCursor, encodeCursor, filterKey } from "./cursor.ts";
import { normalizeDomains } from "./domains.ts";
import { ProvisioningStep, Tenant, TenantDomain, type TenantRow } from "./entities.ts";
import type { TenantStatus, TenantView, Tier } from "./model.ts";
import { withRegistryTransaction, withTenantScope } from "./scope.ts";

/** What CreateTenant asks for, after the contract's shape checks. */
export interface NewTenant {
  readonly requestId: string;
  readonly slug: string;
  readonly displayName: string;
  readonly tier: Tier;
  readonly plan: string;
  readonly region: string;
  readonly verifiedDomains: readonly string[];
}

/** Whose rows a read may see: one tenant's (a tenant's user or service) or the whole registry. */
export type ReadScope = { readonly tenantId: string } | { readonly tenantId?: undefined };

/** The plan id, or InvalidArgument on `field` when the catalogue has no such plan. */
export function requirePlan(plan: string, field = "plan"): PlanId {
  if (isPlanId(plan)) return plan;
  throw new InvalidArgument("unknown plan", [
    { field, message: `unknown plan ${JSON.stringify(plan)}; plans are ${PLAN_IDS.join(", ")}` },
  ]);
}

/** The tier a new tenant gets: the one asked for, else its plan's default tier (from the catalogue). */
export function tierFor(plan: PlanId, requested: Tier | undefined): Tier {
  return requested ?? getPlan(plan).defaultTier;
}

function inScope<T>(orm: Orm, scope: ReadScope, fn: (em: TxEntityManager) => Promise<T>): Promise<T> {
  return scope.tenantId === undefined ? withRegistryTransaction(orm, fn) : withTenantScope(orm, scope.tenantId, fn);
}

function view(row: TenantRow, domains: readonly string[]): TenantView {
  return {
    id: row.id,
    slug: row.slug,
    displayName: row.displayName,
    tier: row.tier,
    plan: row.plan,
    status: row.status,
    statusReason: row.statusReason ?? null,
    region: row.region,
    placementDatabase: row.placementDatabase,
    placementNamespace: row.placementNamespace,
    placementEndpoints: { ...(row.placementEndpoints ?? {}) },
    computeVersion: row.computeVersion ?? "",
    writesFenced: row.writesFenced,
    verifiedDomains: [...domains].sort(),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

async function views(em: TxEntityManager, rows: readonly TenantRow[]): Promise<TenantView[]> {
  if (rows.length === 0) return [];
  const domains = await em.find(TenantDomain, { tenantId: { $in: rows.map((r) => r.id) } });
  return rows.map((row) =>
    view(
      row,
      domains.filter((d) => d.tenantId === row.id).map((d) => d.domain),
    ),
  );
}

/** A tenant row with its domains, as the registry shows it. */
export async function viewOf(em: TxEntityManager, row: TenantRow): Promise<TenantView> {
  const [one] = await views(em, [row]);
  return one as TenantView;
}

function uniqueConstraint(err: unknown): string | undefined {
  if (!(err instanceof UniqueConstraintViolationException)) return undefined;
  const constraint = (err as unknown as { constraint?: unknown }).constraint;
  return typeof constraint === "string" ? constraint : undefined;
}

function domainTaken(): AlreadyExists {
  return new AlreadyExists("domain already verified for another tenant", [
    { field: "verified_domains", message: "a domain in the list is already verified for another tenant" },
  ]);
}

async function findByRequestId(orm: Orm, requestId: string): Promise<TenantView | undefined> {
  return withRegistryTransaction(orm, async (em) => {
    const row = await em.findOne(Tenant, { createRequestId: requestId.toLowerCase() });
    return row ? viewOf(em, row) : undefined;
  });
}

function replay(existing: TenantView, input: NewTenant): { tenant: TenantView; created: false } {
  if (existing.slug !== input.slug) {
    throw new InvalidArgument("request_id already used", [
      { field: "request_id", message: "this request_id was already used to create a different tenant" },
    ]);
  }
  return { tenant: existing, created: false };
}

/**
 * Registers a tenant in `provisioning` with its saga's steps, and enqueues `tenant.created`, in one
 * transaction. Idempotent on `requestId`: a repeated request returns the tenant of the first one
 * (`created: false`) and starts nothing new. A taken slug or domain is AlreadyExists on that field.
 */
export async function createTenant(
  orm: Orm,
  input: NewTenant,
  steps: readonly string[],
): Promise<{ tenant: TenantView; created: boolean }> {
  requirePlan(input.plan);
  const domains = normalizeDomains(input.verifiedDomains, "verified_domains");
  const existing = await findByRequestId(orm, input.requestId);
  if (existing) return replay(existing, input);
  const id = randomUUID();
  try {
    const tenant = await withTenantScope(orm, id, async (em) => {
      const row = em.create(Tenant, {
        id,
        slug: input.slug,
        displayName: input.displayName,
        tier: input.tier,
        plan: input.plan,
        status: "provisioning",
        statusReason: null,
        region: input.region,
        placementDatabase: "",
        placementNamespace: "",
        placementEndpoints: {},
        computeVersion: "",
        writesFenced: false,
        createRequestId: input.requestId.toLowerCase(),
      });
      // the tenant first: the other rows reference it
      await em.flush();
      for (const domain of domains) em.create(TenantDomain, { domain, tenantId: id });
      const now = new Date();
      for (const [position, step] of steps.entries()) {
        em.create(ProvisioningStep, {
          tenantId: id,
          step,
          position,
          state: "pending",
          attempts: 0,
          lastError: null,
          nextAttemptAt: now,
          leaseUntil: null,
          updatedAt: now,
        });
      }
      await em.flush();
      const created = view(row, domains);
      await publishTenantEvent(em, "tenant.created", created);
      return created;
    });
    return { tenant, created: true };
  } catch (err) {
    const constraint = uniqueConstraint(err);
    if (constraint === "tenants_create_request_id_unique") {
      const winner = await findByRequestId(orm, input.requestId);
      if (winner) return replay(winner, input);
    }
    if (constraint === "tenants_slug_unique") {
      throw new AlreadyExists("slug taken", [{ field: "slug", message: `slug "${input.slug}" is taken` }]);
    }
    if (constraint === "tenant_domains_pkey") throw domainTaken();
    throw err;
  }
}

/** One tenant; NotFound when it does not exist. Callers authorise first (requireTenantAccess). */
export async function getTenant(orm: Orm, tenantId: string): Promise<TenantView> {
  const id = tenantId.toLowerCase();
  return withTenantScope(orm, id, async (em) => {
    const row = await em.findOne(Tenant, { id });
    if (!row) throw new NotFound(TENANT_NOT_FOUND);
    return viewOf(em, row);
  });
}

/** Filters of ListTenants; undefined means any. */
export interface TenantFilter {
  readonly status?: TenantStatus | undefined;
  readonly tier?: Tier | undefined;
  readonly plan?: string | undefined;
}

/** A page of tenants, newest first, and the token of the next page ("" after the last). */
export async function listTenants(
  orm: Orm,
  scope: ReadScope,
  filter: TenantFilter,
  page: { size: number; token: string },
): Promise<{ tenants: TenantView[]; nextPageToken: string }> {
  const key = filterKey({
    scope: scope.tenantId ?? "*",
    status: filter.status ?? "",
    tier: filter.tier ?? "",
    plan: filter.plan ?? "",
  });
  const after = page.token === "" ? undefined : decodeCursor(page.token, key);
  const where: FilterQuery<TenantRow> = {
    ...(filter.status && { status: filter.status }),
    ...(filter.tier && { tier: filter.tier }),
    ...(filter.plan && { plan: filter.plan }),
    ...(after && {
      $or: [{ createdAt: { $lt: after.createdAt } }, { createdAt: after.createdAt, id: { $lt: after.id } }],
    }),
  };
  return inScope(orm, scope, async (em) => {
    const rows = await em.find(Tenant, where, { orderBy: { createdAt: "desc", id: "desc" }, limit: page.size + 1 });
    const more = rows.length > page.size;
    const shown = more ? rows.slice(0, page.size) : rows;
    const last = shown.at(-1);
    return {
      tenants: await views(em, shown),
      nextPageToken: more && last ? encodeCursor({ createdAt: last.createdAt, id: last.id }, key) : "",
    };
  });
}

/** How ResolveTenant looks a tenant up. */
export type ResolveKey = { readonly id: string } | { readonly slug: string } | { readonly domain: string };

/** The tenant the key names within `scope`, whatever its status; undefined when none. */
export async function resolveTenant(orm: Orm, scope: ReadScope, key: ResolveKey): Promise<TenantView | undefined> {
  return inScope(orm, scope, async (em) => {
    let row: TenantRow | null;
    if ("id" in key) row = await em.findOne(Tenant, { id: key.id.toLowerCase() });
    else if ("slug" in key) row = await em.findOne(Tenant, { slug: key.slug.toLowerCase() });
    else {
      const domain = await em.findOne(TenantDomain, { domain: key.domain });
      row = domain ? await em.findOne(Tenant, { id: domain.tenantId }) : null;
    }
    return row ? viewOf(em, row) : undefined;
  });
}

/** Which registry fields UpdateTenant changes. */
export interface TenantChanges {
  readonly displayName?: string;
  readonly region?: string;
  readonly verifiedDomains?: readonly string[];
}

const CLOSED: readonly TenantStatus[] = ["offboarding", "deleted"];

async function lockTenant(em: TxEntityManager, id: string): Promise<TenantRow> {
  const row = await em.findOne(Tenant, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
  if (!row) throw new NotFound(TENANT_NOT_FOUND);
  return row;
}

function refuseClosed(row: TenantRow, action: string): void {
  if (CLOSED.includes(row.status)) {
    throw new FailedPrecondition(`cannot ${action}: the tenant is ${row.status}`);
  }
}

/**
 * Applies one change to a tenant in a transaction scoped to it, and enqueues the event the change
 * calls for in the same transaction; `change` returns undefined when there is nothing to do (a
 * repeated call), in which case no event is written.
 */
async function changeTenant(
  orm: Orm,
  tenantId: string,
  change: (
    row: TenantRow,
    em: TxEntityManager,
  ) => Promise<{ type: Parameters<typeof publishTenantEvent>[1]; reason?: string; previousPlan?: string } | undefined>,
): Promise<TenantView> {
  const id = tenantId.toLowerCase();
  return withTenantScope(orm, id, async (em) => {
    const row = await lockTenant(em, id);
    const event = await change(row, em);
    await em.flush();
    const after = await viewOf(em, row);
    if (event) {
      await publishTenantEvent(em, event.type, after, {
        ...(event.reason !== undefined && { reason: event.reason }),
        ...(event.previousPlan !== undefined && { previousPlan: event.previousPlan }),
      });
    }
    return after;
  });
}

/** Changes display name, region and/or verified domains; `tenant.updated` when anything changed. */
export async function updateTenant(orm: Orm, tenantId: string, changes: TenantChanges): Promise<TenantView> {
  const domains =
    changes.verifiedDomains === undefined ? undefined : normalizeDomains(changes.verifiedDomains, "verified_domains");
  try {
    return await changeTenant(orm, tenantId, async (row, em) => {
      refuseClosed(row, "update");
      let changed = false;
      if (changes.displayName !== undefined && changes.displayName !== row.displayName) {
        row.displayName = changes.displayName;
        changed = true;
      }
      if (changes.region !== undefined && changes.region !== row.region) {
        row.region = changes.region;
        changed = true;
      }
      if (domains !== undefined) {
        const current = (await em.find(TenantDomain, { tenantId: row.id })).map((d) => d.domain);
        const removed = current.filter((d) => !domains.includes(d));
        const added = domains.filter((d) => !current.includes(d));
        if (removed.length > 0) await em.nativeDelete(TenantDomain, { tenantId: row.id, domain: { $in: removed } });
        for (const domain of added) em.create(TenantDomain, { domain, tenantId: row.id });
        if (removed.length > 0 || added.length > 0) {
          changed = true;
          // the row's update time covers its domains too
          row.updatedAt = new Date();
        }
      }
      return changed ? { type: "tenant.updated" } : undefined;
    });
  } catch (err) {
    if (uniqueConstraint(err) === "tenant_domains_pkey") throw domainTaken();
    throw err;
  }
}

/** Moves the tenant to another plan of the catalogue; `tenant.plan_changed` (with the previous plan). */
export function changePlan(orm: Orm, tenantId: string, plan: string): Promise<TenantView> {
  requirePlan(plan);
  return changeTenant(orm, tenantId, async (row) => {
    refuseClosed(row, "change the plan");
    if (row.plan === plan) return undefined;
    const previousPlan = row.plan;
    row.plan = plan;
    return { type: "tenant.plan_changed", previousPlan };
  });
}

/** active → suspended (`tenant.suspended`); a suspended tenant stays as it is. */
export function suspendTenant(orm: Orm, tenantId: string, reason: string): Promise<TenantView> {
  return changeTenant(orm, tenantId, async (row) => {
    if (row.status === "suspended") return undefined;
    if (row.status !== "active")
      throw new FailedPrecondition(`only an active tenant can be suspended; it is ${row.status}`);
    row.status = "suspended";
    row.statusReason = reason;
    return { type: "tenant.suspended", reason };
  });
}

/** suspended → active (`tenant.resumed`); an active tenant stays as it is. */
export function resumeTenant(orm: Orm, tenantId: string): Promise<TenantView> {
  return changeTenant(orm, tenantId, async (row) => {
    if (row.status === "active") return undefined;
    if (row.status !== "suspended")
      throw new FailedPrecondition(`only a suspended tenant can be resumed; it is ${row.status}`);
    row.status = "active";
    row.statusReason = null;
    return { type: "tenant.resumed" };
  });
}

/** provisioning | active | suspended → offboarding (`tenant.offboarding`); stops an unfinished saga. */
export function offboardTenant(orm: Orm, tenantId: string, reason: string): Promise<TenantView> {
  return changeTenant(orm, tenantId, async (row) => {
    if (row.status === "offboarding") return undefined;
    if (row.status === "deleted") throw new FailedPrecondition("the tenant is already deleted");
    row.status = "offboarding";
    row.statusReason = reason;
    return { type: "tenant.offboarding", reason };
  });
}
