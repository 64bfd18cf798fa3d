/**
 * The plan catalogue: plan ids, display names and quotas (requests per minute per edge, seats,
 * projects, storage, audit retention, extension CPU time). This is the only definition of plans:
 * tenancy validates plan ids against it and serves it (ListPlans); edges and services read a
 * tenant's plan id (from ResolveTenant or tenant events) and look its quotas up here.
 */
export {
  findPlan,
  getPlan,
  isPlanId,
  PLAN_IDS,
  PLANS,
  type Plan,
  type PlanId,
  type Quotas,
  UNLIMITED,
  withinQuota,
} from "./catalogue.ts";
export { planToProto, quotasToProto } from "./proto.ts";
