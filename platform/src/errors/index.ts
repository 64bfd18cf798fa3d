export { errorInterceptor, toConnectError } from "./connect-mapping.ts";
export {
  AlreadyExists,
  DomainError,
  type DomainErrorKind,
  type ErrorReason,
  FailedPrecondition,
  type FieldViolation,
  InvalidArgument,
  NotFound,
  PermissionDenied,
  QuotaExceeded,
  ResourceExhausted,
  Unauthenticated,
  Unavailable,
} from "./domain-errors.ts";
