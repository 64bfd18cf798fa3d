import { Code, type ConnectError } from "@connectrpc/connect";
import { DomainError, toConnectError } from "@tessera/platform/errors";
import { BadRequestSchema, ErrorInfoSchema, QuotaFailureSchema } from "@tessera/proto/google/rpc/error_details_pb";

/** A field-level problem with the request, named the way the REST API spells the field. */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/** An RFC 9457 problem details object, as the edge sends it (`application/problem+json`). */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly errors?: readonly FieldError[];
  /** `quota-exceeded` only: the plan quota (`projects`, `seats`, `storage_bytes`) and its limit. */
  readonly quota?: string;
  readonly limit?: number;
}

/** The media type of every error response. */
export const PROBLEM_MEDIA_TYPE = "application/problem+json";

/** Problem kinds: URI slug, status and title. The README lists them for partners. */
export const PROBLEM_KINDS = {
  "invalid-request": { status: 400, title: "Invalid request" },
  unauthenticated: { status: 401, title: "Unauthenticated" },
  forbidden: { status: 403, title: "Forbidden" },
  "quota-exceeded": { status: 403, title: "Plan quota exceeded" },
  "step-up-required": { status: 403, title: "Recent multi-factor sign-in required" },
  "not-found": { status: 404, title: "Not found" },
  "method-not-allowed": { status: 405, title: "Method not allowed" },
  "request-timeout": { status: 408, title: "Request timeout" },
  conflict: { status: 409, title: "Conflict" },
  "idempotency-key-in-use": { status: 409, title: "Idempotency key in use" },
  "precondition-failed": { status: 412, title: "Precondition failed" },
  "payload-too-large": { status: 413, title: "Payload too large" },
  "unsupported-media-type": { status: 415, title: "Unsupported media type" },
  "idempotency-key-reused": { status: 422, title: "Idempotency key reused" },
  "rate-limited": { status: 429, title: "Too many requests" },
  "headers-too-large": { status: 431, title: "Request header fields too large" },
  "client-closed-request": { status: 499, title: "Client closed request" },
  internal: { status: 500, title: "Internal error" },
  "not-implemented": { status: 501, title: "Not implemented" },
  unavailable: { status: 503, title: "Service unavailable" },
  timeout: { status: 504, title: "Upstream timeout" },
} as const;

/** The name of a problem kind. */
export type ProblemKind = keyof typeof PROBLEM_KINDS;

/** The `type` URI of a problem kind (a URN: nothing to dereference, stable forever). */
export function problemType(kind: ProblemKind): string {
  return `urn:tessera:problem:${kind}`;
}

/** What every 404 says, whether the id is malformed, unknown, or another tenant's. */
export const NOT_FOUND_DETAIL = "The resource does not exist.";

/** An error the edge raises itself; the error handler sends it as problem+json. */
export class ProblemError extends Error {
  override name = "ProblemError";
  readonly problem: Problem;
  /** Extra response headers (`WWW-Authenticate`, `Retry-After`, …). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    kind: ProblemKind,
    detail: string,
    errors?: readonly FieldError[],
    headers: Record<string, string> = {},
    body: Problem = problem(kind, detail, errors),
  ) {
    super(detail);
    this.problem = body;
    this.headers = headers;
  }
}

/** Builds a problem of a kind. */
export function problem(kind: ProblemKind, detail: string, errors?: readonly FieldError[]): Problem {
  const { status, title } = PROBLEM_KINDS[kind];
  return { type: problemType(kind), title, status, detail, ...(errors && errors.length > 0 ? { errors } : {}) };
}

/** The 404 every unknown, malformed or foreign id gets. */
export function notFound(): ProblemError {
  return new ProblemError("not-found", NOT_FOUND_DETAIL);
}

/** `WWW-Authenticate` of 401 answers (RFC 6750); `invalid_token` when a credential was sent. */
export function wwwAuthenticate(credentialSent: boolean): string {
  return credentialSent ? 'Bearer realm="tessera", error="invalid_token"' : 'Bearer realm="tessera"';
}

/**
 * The one mapping from gRPC status codes to HTTP. FAILED_PRECONDITION is a state conflict (409)
 * unless it is about `expected_version` (412, see {@link fromConnectError}).
 */
export const GRPC_TO_PROBLEM: Readonly<Record<Code, ProblemKind>> = {
  [Code.Canceled]: "client-closed-request",
  [Code.Unknown]: "internal",
  [Code.InvalidArgument]: "invalid-request",
  [Code.DeadlineExceeded]: "timeout",
  [Code.NotFound]: "not-found",
  [Code.AlreadyExists]: "conflict",
  [Code.PermissionDenied]: "forbidden",
  [Code.ResourceExhausted]: "rate-limited",
  [Code.FailedPrecondition]: "conflict",
  [Code.Aborted]: "conflict",
  [Code.OutOfRange]: "invalid-request",
  [Code.Unimplemented]: "not-implemented",
  [Code.Internal]: "internal",
  [Code.Unavailable]: "unavailable",
  [Code.DataLoss]: "internal",
  [Code.Unauthenticated]: "unauthenticated",
};

const CURSOR_MESSAGE = "is not a cursor of this list";

/** Contract field paths whose REST name differs; everything else keeps its (snake_case) name. */
const FIELD_NAMES: Record<string, string> = {
  "page.page_token": "cursor",
  "page.page_size": "limit",
  update_mask: "body",
  "update_mask.paths": "body",
  expected_version: "If-Match",
};

/** A contract field violation, renamed for REST. Cursor problems all read alike (no probing). */
export function restField(field: string, message: string): FieldError {
  const name = FIELD_NAMES[field] ?? field;
  return { field: name, message: name === "cursor" ? CURSOR_MESSAGE : message };
}

/** Safe, generic details of the statuses whose upstream message is not for partners. */
const GENERIC_DETAIL: Partial<Record<ProblemKind, string>> = {
  unauthenticated: "Missing, invalid, expired or revoked credentials.",
  "not-found": NOT_FOUND_DETAIL,
  internal: "An internal error occurred.",
  "not-implemented": "Not implemented.",
  unavailable: "A service the request needs is unavailable; retry later.",
  timeout: "A service the request needs did not answer in time; retry later.",
  "client-closed-request": "The request was cancelled.",
};

/**
 * A gRPC error as a problem: status from {@link GRPC_TO_PROBLEM}, field violations
 * (`google.rpc.BadRequest`) as `errors`, messages of expected failures (which services write for
 * callers) as `detail`, and fixed wording for everything else.
 */
export function fromConnectError(err: ConnectError): ProblemError {
  const violations = err.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations);
  const errors = violations.map((v) => restField(v.field, v.description));
  const quota = quotaOf(err);
  if (quota) {
    const p = problem("quota-exceeded", err.rawMessage);
    return new ProblemError("quota-exceeded", err.rawMessage, undefined, {}, { ...p, ...quota });
  }
  let kind = GRPC_TO_PROBLEM[err.code] ?? "internal";
  // a sensitive operation refused for want of a recent second factor (ErrorInfo STEP_UP_REQUIRED)
  if (
    err.code === Code.PermissionDenied &&
    err.findDetails(ErrorInfoSchema).some((i) => i.reason === "STEP_UP_REQUIRED")
  )
    kind = "step-up-required";
  if (err.code === Code.FailedPrecondition && errors.some((e) => e.field === "If-Match")) kind = "precondition-failed";
  let detail = GENERIC_DETAIL[kind] ?? err.rawMessage;
  if (errors.some((e) => e.field === "cursor")) detail = "invalid cursor";
  const headers: Record<string, string> =
    kind === "unauthenticated"
      ? { "www-authenticate": wwwAuthenticate(true) }
      : kind === "unavailable"
        ? { "retry-after": "1" }
        : {};
  return new ProblemError(kind, detail, GENERIC_DETAIL[kind] ? undefined : errors, headers);
}

/**
 * The plan quota a RESOURCE_EXHAUSTED names in its google.rpc.QuotaFailure detail: a used-up plan
 * quota (403 `quota-exceeded`), as opposed to rate limiting (429 `rate-limited`), which has none.
 */
function quotaOf(err: ConnectError): { quota: string; limit: number } | undefined {
  if (err.code !== Code.ResourceExhausted) return undefined;
  const v = err.findDetails(QuotaFailureSchema).flatMap((d) => d.violations)[0];
  return v?.quotaMetric ? { quota: v.quotaMetric, limit: Number(v.quotaValue) } : undefined;
}

/** A kit domain error (thrown at the edge itself, e.g. a malformed credential) as a problem. */
export function fromDomainError(err: DomainError): ProblemError {
  return fromConnectError(toConnectError(err));
}

/** Whether a value is a kit DomainError. */
export function isDomainError(err: unknown): err is DomainError {
  return err instanceof DomainError;
}
