import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { PothosValidationError } from "@pothos/core";
import { builder } from "../builder.ts";
import type { GatewayContext } from "../context.ts";
import {
  ConflictError,
  type FieldError,
  ForbiddenError,
  type GatewayError,
  InputError,
  NotFoundError,
  QuotaExceededError,
  RateLimitedError,
  StepUpRequiredError,
  UnauthenticatedError,
} from "../errors/gateway-errors.ts";

/** An instant, as an ISO-8601 string in UTC. */
export const DateTime = builder.scalarType("DateTime", {
  description: "An instant, as an ISO-8601 string in UTC (`2025-01-31T09:30:00.000Z`).",
  serialize: (value) => value.toISOString(),
  parseValue: (value) => {
    const date = typeof value === "string" ? new Date(value) : undefined;
    if (!date || Number.isNaN(date.getTime())) throw new TypeError("DateTime must be an ISO-8601 string");
    return date;
  },
});

/** A calendar date, `YYYY-MM-DD`. */
export const DateScalar = builder.scalarType("Date", {
  description: "A calendar date, `YYYY-MM-DD`.",
  serialize: (value) => value,
  parseValue: (value) => {
    if (typeof value !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(value)) throw new TypeError("Date must be YYYY-MM-DD");
    return value;
  },
});

/** A proto timestamp as a Date (epoch for an unset one, which services never send). */
export function toDate(ts: Timestamp | undefined): Date {
  return ts ? timestampDate(ts) : new Date(0);
}

/**
 * A contract enum value as one of the values the graph defines; UNSPECIFIED (0) and values from a
 * newer contract are a service fault (masked), never passed on as something else.
 */
export function definedEnum<T extends number>(value: number, defined: Record<string, T>): T {
  const known = Object.values(defined) as number[];
  if (value !== 0 && known.includes(value)) return value as T;
  throw new Error(`a service sent enum value ${value}, which this gateway does not know`);
}

/** The common shape of every expected failure. */
export const ErrorInterface = builder.interfaceRef<GatewayError>("Error").implement({
  description: "An expected failure of a mutation. `code` is the same as `extensions.code` of GraphQL errors.",
  fields: (t) => ({
    message: t.exposeString("message"),
    code: t.exposeString("code"),
  }),
});

const FieldErrorRef = builder.objectRef<FieldError>("FieldError").implement({
  description: "One invalid input field.",
  fields: (t) => ({
    field: t.exposeString("field", { description: "The input field, e.g. `title` or `labels[1]`." }),
    message: t.exposeString("message"),
  }),
});

builder.objectType(NotFoundError, {
  name: "NotFoundError",
  description: "The object does not exist, or is not visible to the caller (the two are indistinguishable).",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof NotFoundError,
});

builder.objectType(InputError, {
  name: "ValidationError",
  description: "The input was refused; `fieldErrors` names the fields.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof InputError,
  fields: (t) => ({ fieldErrors: t.field({ type: [FieldErrorRef], resolve: (e) => [...e.fieldErrors] }) }),
});

builder.objectType(ForbiddenError, {
  name: "ForbiddenError",
  description: "The caller's role or scopes do not allow this.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ForbiddenError,
});

builder.objectType(ConflictError, {
  name: "ConflictError",
  description: "The object changed meanwhile, already exists, or its state does not allow this.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ConflictError,
});

builder.objectType(QuotaExceededError, {
  name: "QuotaExceededError",
  description: "The change would exceed a quota of the tenant's plan (`quota`: projects, seats, storage_bytes).",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof QuotaExceededError,
  fields: (t) => ({
    quota: t.exposeString("quota", {
      description: "The quota, as the plan names it: `projects`, `seats`, `storage_bytes`.",
    }),
    limit: t.field({
      type: "Float",
      description: "The quota's limit on the tenant's plan (a count, or bytes for `storage_bytes`).",
      resolve: (e) => e.limit,
    }),
  }),
});

builder.objectType(RateLimitedError, {
  name: "RateLimitedError",
  description: "Too many attempts.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof RateLimitedError,
});

builder.objectType(UnauthenticatedError, {
  name: "AuthenticationError",
  description: "The credentials were not accepted.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof UnauthenticatedError,
});

/** The expected failures of every write. */
export const WRITE_ERRORS = [InputError, ForbiddenError, NotFoundError, ConflictError, RateLimitedError];

/** The expected failures of writes that add or grow data (projects, tasks, comments): a plan quota may be used up. */
export const QUOTA_WRITE_ERRORS = [...WRITE_ERRORS, QuotaExceededError];

/** A class of expected failures that mutations list in their result unions. */
export type ErrorClass = (typeof QUOTA_WRITE_ERRORS)[number] | typeof UnauthenticatedError | typeof StepUpRequiredError;

/** The expected failures of changes to the viewer's own second factors (TOTP, passkeys): a step-up may be due. */
export const FACTOR_ERRORS = [InputError, ForbiddenError, NotFoundError, ConflictError, StepUpRequiredError];

/** A contract message the service must send; its absence is a fault (masked). */
export function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`identity answered without ${what}`);
  return value;
}

/**
 * Errors-plugin options naming the generated types `<Name>Result` (union) and `<Name>Success`
 * (with the value in `field`).
 */
export function resultTypes(name: string, field: string, types: ErrorClass[] = WRITE_ERRORS) {
  return {
    types,
    union: { name: `${name}Result` },
    result: { name: `${name}Success` },
    dataField: { name: field },
  };
}

/** Forward-pagination arguments: `first` (0…max, default from config) and `after`. */
export const pageArgs = builder.args((t) => ({
  first: t.int({ required: false, description: "How many items (0 to the page-size limit); default per server." }),
  after: t.string({ required: false, description: "Cursor of the edge to continue after." }),
}));

/**
 * Cost of a connection field: its sub-selection times the page size asked for. A page size out of
 * range is refused here, before execution, with BAD_USER_INPUT.
 */
export function connectionComplexity(args: { first?: number | null | undefined }, ctx: GatewayContext) {
  const first = args.first ?? ctx.pages.defaultPageSize;
  if (!Number.isInteger(first) || first < 0 || first > ctx.pages.maxPageSize) {
    throw new PothosValidationError(`first must be between 0 and ${ctx.pages.maxPageSize}.`, {
      extensions: { code: "BAD_USER_INPUT", fieldErrors: [{ field: "first", message: "out of range" }] },
    });
  }
  return { field: 1, multiplier: Math.max(first, 1) };
}
