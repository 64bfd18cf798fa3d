/**
 * The plan catalogue: operator configuration in one YAML file (`config/plans.yaml`, or the file
 * `TESSERA_PLANS_FILE` names), checked when this module loads. Each plan has an id, a display name,
 * its default tier, quotas (requests per minute per edge, seats, projects, storage, audit retention,
 * extension CPU time) and the Kubernetes sizing of a tenant namespace. This is the only definition
 * of plans: tenancy validates plan ids against it and serves it (ListPlans); edges and services read
 * a tenant's plan id (from ResolveTenant or tenant events) and look its quotas up here; the Helm
 * charts read the same file.
 */
export {
  CATALOGUE,
  type ContainerResources,
  catalogueFrom,
  DEFAULT_PLAN,
  findPlan,
  getPlan,
  isPlanId,
  type KubernetesSizing,
  loadPlanCatalogue,
  PLAN_IDS,
  PLANS,
  type Plan,
  type PlanCatalogue,
  type PlanId,
  type QuotaName,
  type Quotas,
  UNLIMITED,
  withinQuota,
} from "./catalogue.ts";
export {
  DEFAULT_PLANS_FILE,
  PLANS_FILE_ENV,
  PlanCatalogueError,
  type PlanTier,
  parsePlanFile,
  plansEnv,
  plansFilePath,
  readPlanFile,
} from "./file.ts";
export { planToProto, quotasToProto } from "./proto.ts";
export { fixedQuotaSource, type QuotaSource, requireWithinQuota, resolvedQuotaSource } from "./quota.ts";
