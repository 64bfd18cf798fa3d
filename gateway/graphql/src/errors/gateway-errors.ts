/**
 * The failures the gateway reports to its callers. Each has a stable `code` (`extensions.code`
 * in a GraphQL error); mutations list the expected ones as schema types (errors plugin), every
 * other field surfaces them as GraphQL errors with that code. Messages are shown to callers: they
 * never hold secrets, ids or another tenant's data.
 */
export abstract class GatewayError extends Error {
  abstract readonly code: string;
}

/** One invalid input field, by its GraphQL input name (`title`, `labels[1]`, `after`). */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/** An id that does not exist, is malformed, names another type, or belongs to another tenant. */
export class NotFoundError extends GatewayError {
  readonly code = "NOT_FOUND";
  override name = "NotFoundError";
  constructor(message = "Not found.") {
    super(message);
  }
}

/** Input a service (or the gateway) refused, with the offending fields. */
export class InputError extends GatewayError {
  readonly code = "BAD_USER_INPUT";
  override name = "InputError";
  readonly fieldErrors: readonly FieldError[];
  constructor(message: string, fieldErrors: readonly FieldError[] = []) {
    super(message);
    this.fieldErrors = fieldErrors;
  }
}

/** The caller is known but may not do this (role, scope, suspended tenant). */
export class ForbiddenError extends GatewayError {
  readonly code = "FORBIDDEN";
  override name = "ForbiddenError";
  constructor(message = "You are not allowed to do this.") {
    super(message);
  }
}

/**
 * The caller is known but must first sign in again with a second factor (a "step-up"): the
 * operation is sensitive and their sign-in is not recent multi-factor one. Clients send the user
 * through `login` + `verifyMfa` and retry.
 */
export class StepUpRequiredError extends GatewayError {
  readonly code = "STEP_UP_REQUIRED";
  override name = "StepUpRequiredError";
  constructor(message = "Sign in again with your second factor to do this.") {
    super(message);
  }
}

/** The caller could not be authenticated (no, expired or revoked credential; wrong password). */
export class UnauthenticatedError extends GatewayError {
  readonly code = "UNAUTHENTICATED";
  override name = "UnauthenticatedError";
  constructor(message = "Authentication required.") {
    super(message);
  }
}

/** The object changed meanwhile or is in a state that forbids the change (version, duplicate, archived). */
export class ConflictError extends GatewayError {
  readonly code = "CONFLICT";
  override name = "ConflictError";
}

/** A change that would exceed a quota of the tenant's plan (projects, seats, storage). */
export class QuotaExceededError extends GatewayError {
  readonly code = "QUOTA_EXCEEDED";
  override name = "QuotaExceededError";
  /** The quota, as the contract names it: `projects`, `seats`, `storage_bytes`. */
  readonly quota: string;
  /** Its limit on the tenant's plan. */
  readonly limit: number;
  constructor(quota: string, limit: number, message = `The plan's ${quota} quota (${limit}) is used up.`) {
    super(message);
    this.quota = quota;
    this.limit = limit;
  }
}

/** Too many attempts (rate limiting). */
export class RateLimitedError extends GatewayError {
  readonly code = "RATE_LIMITED";
  override name = "RateLimitedError";
  constructor(message = "Too many requests; try again later.") {
    super(message);
  }
}

/** A service could not be reached in time; the caller may retry. */
export class UnavailableError extends GatewayError {
  readonly code = "UNAVAILABLE";
  override name = "UnavailableError";
  constructor(message = "A service is temporarily unavailable; try again.") {
    super(message);
  }
}
