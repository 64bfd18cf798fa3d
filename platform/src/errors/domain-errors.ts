/** A field-level problem in a request, reported to callers as-is. */
export interface FieldViolation {
  readonly field: string;
  readonly message: string;
}

export type DomainErrorKind =
  | "NotFound"
  | "AlreadyExists"
  | "InvalidArgument"
  | "FailedPrecondition"
  | "PermissionDenied"
  | "Unauthenticated"
  | "ResourceExhausted"
  | "Unavailable";

/**
 * An expected failure raised by domain code. Its message is shown to callers, so it must not
 * contain secrets or another tenant's data.
 */
export abstract class DomainError extends Error {
  abstract readonly kind: DomainErrorKind;
  readonly violations: readonly FieldViolation[];
  /** A machine-readable reason, sent as a google.rpc.ErrorInfo detail. */
  readonly info: ErrorReason | undefined;

  constructor(
    message: string,
    violations: readonly FieldViolation[] = [],
    options?: ErrorOptions & { info?: ErrorReason },
  ) {
    super(message, options);
    this.violations = violations;
    this.info = options?.info;
  }
}

/** A machine-readable cause callers can branch on (google.rpc.ErrorInfo), e.g. `STEP_UP_REQUIRED`. */
export interface ErrorReason {
  /** UPPER_SNAKE_CASE, unique within the domain. */
  readonly reason: string;
  /** Who defines the reason, e.g. `identity.tessera.io`. */
  readonly domain: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

export class NotFound extends DomainError {
  readonly kind = "NotFound";
  override name = "NotFound";
}
export class AlreadyExists extends DomainError {
  readonly kind = "AlreadyExists";
  override name = "AlreadyExists";
}
export class InvalidArgument extends DomainError {
  readonly kind = "InvalidArgument";
  override name = "InvalidArgument";
}
export class FailedPrecondition extends DomainError {
  readonly kind = "FailedPrecondition";
  override name = "FailedPrecondition";
}
export class PermissionDenied extends DomainError {
  readonly kind = "PermissionDenied";
  override name = "PermissionDenied";
}
export class Unauthenticated extends DomainError {
  readonly kind = "Unauthenticated";
  override name = "Unauthenticated";
}
export class ResourceExhausted extends DomainError {
  readonly kind = "ResourceExhausted";
  override name = "ResourceExhausted";
}
/**
 * A plan quota the change would exceed (RESOURCE_EXHAUSTED, with a google.rpc.QuotaFailure detail
 * naming the quota and its limit: that detail is what tells it apart from rate limiting).
 */
export class QuotaExceeded extends ResourceExhausted {
  override name = "QuotaExceeded";
  /** The quota, as the contract's `Quotas` field names it: `projects`, `seats`, `storage_bytes`. */
  readonly quota: string;
  readonly limit: number;
  /** The tenant's plan, when known. */
  readonly plan: string | undefined;

  constructor(quota: string, limit: number, plan?: string, message?: string) {
    super(message ?? `quota exceeded: ${quota} (limit ${limit}${plan === undefined ? "" : ` on plan ${plan}`})`);
    this.quota = quota;
    this.limit = limit;
    this.plan = plan;
  }
}
export class Unavailable extends DomainError {
  readonly kind = "Unavailable";
  override name = "Unavailable";
}
