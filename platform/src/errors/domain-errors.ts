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

  constructor(message: string, violations: readonly FieldViolation[] = [], options?: ErrorOptions) {
    super(message, options);
    this.violations = violations;
  }
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
export class Unavailable extends DomainError {
  readonly kind = "Unavailable";
  override name = "Unavailable";
}
