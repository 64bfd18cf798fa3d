import { type FieldPath, ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { Code, ConnectError } from "@connectrpc/connect";
import { DomainError, type DomainErrorKind, QuotaExceeded } from "@tessera/platform/errors";
import { BadRequestSchema, ErrorInfoSchema, QuotaFailureSchema } from "@tessera/proto/google/rpc/error_details_pb";
import { GraphQLError } from "../graphql.ts";
import {
  ConflictError,
  type FieldError,
  ForbiddenError,
  GatewayError,
  InputError,
  NotFoundError,
  QuotaExceededError,
  RateLimitedError,
  StepUpRequiredError,
  UnauthenticatedError,
  UnavailableError,
} from "./gateway-errors.ts";

/**
 * The one mapping from gRPC status codes to the gateway's errors (and so to GraphQL codes):
 *
 * | gRPC                                          | gateway error          | `extensions.code` |
 * | --------------------------------------------- | ---------------------- | ----------------- |
 * | NOT_FOUND                                     | NotFoundError          | NOT_FOUND         |
 * | INVALID_ARGUMENT, OUT_OF_RANGE                | InputError (+ fields)  | BAD_USER_INPUT    |
 * | PERMISSION_DENIED with ErrorInfo STEP_UP_REQUIRED | StepUpRequiredError | STEP_UP_REQUIRED  |
 * | PERMISSION_DENIED                             | ForbiddenError         | FORBIDDEN         |
 * | UNAUTHENTICATED (message kept for PASSKEY_REFUSED) | UnauthenticatedError | UNAUTHENTICATED |
 * | ALREADY_EXISTS, ABORTED, FAILED_PRECONDITION  | ConflictError          | CONFLICT          |
 * | RESOURCE_EXHAUSTED with a QuotaFailure        | QuotaExceededError     | QUOTA_EXCEEDED    |
 * | RESOURCE_EXHAUSTED (rate limiting)            | RateLimitedError       | RATE_LIMITED      |
 * | UNAVAILABLE, DEADLINE_EXCEEDED                | UnavailableError       | UNAVAILABLE       |
 * | anything else                                 | (unchanged: masked)    | INTERNAL_SERVER_ERROR |
 */
const BY_CODE: Partial<Record<Code, (e: ConnectError) => GatewayError>> = {
  [Code.NotFound]: () => new NotFoundError(),
  [Code.InvalidArgument]: (e) => new InputError(e.rawMessage || "Invalid input.", fieldErrorsOf(e)),
  [Code.OutOfRange]: (e) => new InputError(e.rawMessage || "Invalid input.", fieldErrorsOf(e)),
  [Code.PermissionDenied]: (e) =>
    e.findDetails(ErrorInfoSchema).some((i) => i.reason === "STEP_UP_REQUIRED")
      ? new StepUpRequiredError(e.rawMessage || undefined)
      : new ForbiddenError(e.rawMessage || undefined),
  // the reason (expired, revoked, unknown user, wrong password) is never told; a refused passkey's is
  [Code.Unauthenticated]: (e) =>
    e.findDetails(ErrorInfoSchema).some((i) => i.reason === "PASSKEY_REFUSED")
      ? new UnauthenticatedError(e.rawMessage || undefined)
      : new UnauthenticatedError(),
  [Code.AlreadyExists]: (e) => new ConflictError(e.rawMessage || "Already exists."),
  [Code.Aborted]: (e) => new ConflictError(e.rawMessage || "Changed meanwhile; try again."),
  [Code.FailedPrecondition]: (e) => new ConflictError(e.rawMessage || "Not possible in the current state."),
  [Code.ResourceExhausted]: (e) => quotaExceeded(e) ?? new RateLimitedError(e.rawMessage || undefined),
  [Code.Unavailable]: () => new UnavailableError(),
  [Code.DeadlineExceeded]: () => new UnavailableError(),
};

const BY_KIND: Record<DomainErrorKind, Code> = {
  NotFound: Code.NotFound,
  AlreadyExists: Code.AlreadyExists,
  InvalidArgument: Code.InvalidArgument,
  FailedPrecondition: Code.FailedPrecondition,
  PermissionDenied: Code.PermissionDenied,
  Unauthenticated: Code.Unauthenticated,
  ResourceExhausted: Code.ResourceExhausted,
  Unavailable: Code.Unavailable,
};

/**
 * What a failed service call (or a kit error raised at the edge) means to a GraphQL caller: a
 * GatewayError for every expected status, the error itself otherwise (to be masked and logged).
 */
export function fromServiceError(err: unknown): unknown {
  if (err instanceof GatewayError) return err;
  if (err instanceof QuotaExceeded) return new QuotaExceededError(err.quota, err.limit, err.message);
  if (err instanceof DomainError) {
    const fields = err.violations.map((v) => ({ field: graphqlFieldPath(v.field), message: v.message }));
    if (err.kind === "InvalidArgument") return new InputError(err.message, fields);
    return fromServiceError(new ConnectError(err.message, BY_KIND[err.kind]));
  }
  if (err instanceof ConnectError) return BY_CODE[err.code]?.(err) ?? err;
  return err;
}

/** The GraphQL error a gateway error is reported as, keeping the location and path of `like`. */
export function gatewayGraphQLError(err: GatewayError, like?: GraphQLError): GraphQLError {
  const extensions: Record<string, unknown> = { code: err.code };
  if (err instanceof InputError && err.fieldErrors.length > 0) extensions.fieldErrors = err.fieldErrors;
  if (err instanceof QuotaExceededError) Object.assign(extensions, { quota: err.quota, limit: err.limit });
  return new GraphQLError(err.message, {
    ...(like?.nodes ? { nodes: like.nodes } : {}),
    ...(like?.path ? { path: like.path } : {}),
    extensions,
  });
}

/** A used-up plan quota: RESOURCE_EXHAUSTED with a google.rpc.QuotaFailure naming the quota and its limit. */
function quotaExceeded(err: ConnectError): QuotaExceededError | undefined {
  const v = err.findDetails(QuotaFailureSchema).flatMap((d) => d.violations)[0];
  return v?.quotaMetric
    ? new QuotaExceededError(v.quotaMetric, Number(v.quotaValue), err.rawMessage || undefined)
    : undefined;
}

function fieldErrorsOf(err: ConnectError): FieldError[] {
  const out: FieldError[] = [];
  for (const bad of err.findDetails(BadRequestSchema)) {
    for (const v of bad.fieldViolations) out.push({ field: graphqlFieldPath(v.field), message: v.description });
  }
  for (const set of err.findDetails(ViolationsSchema)) {
    for (const v of set.violations) {
      out.push({ field: v.field ? graphqlFieldPath(fieldPathString(v.field)) : "", message: v.message });
    }
  }
  return out;
}

function fieldPathString(path: FieldPath): string {
  return path.elements
    .map((e) => {
      const sub = e.subscript;
      if (sub.case === undefined) return e.fieldName;
      return `${e.fieldName}[${String(sub.value)}]`;
    })
    .join(".");
}

/** Contract field names that GraphQL arguments carry under another name. */
const RENAMED: Record<string, string> = {
  "page.page_token": "after",
  "page.page_size": "first",
  "filter.start_time": "filter.since",
  "filter.end_time": "filter.until",
};

/** `due_date` → `dueDate`, `labels[1]` stays, `page.page_token` → `after`. */
export function graphqlFieldPath(protoPath: string): string {
  const renamed = RENAMED[protoPath];
  if (renamed) return renamed;
  return protoPath.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}
