import { DomainError } from "@tessera/platform/errors";

/** RFC 7644 §3.12 scimType values. */
export type ScimType =
  | "invalidFilter"
  | "tooMany"
  | "uniqueness"
  | "mutability"
  | "invalidSyntax"
  | "invalidPath"
  | "noTarget"
  | "invalidValue"
  | "invalidVers"
  | "sensitive";

export const ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error";

/** An error answered as a SCIM Error message with this HTTP status. */
export class ScimError extends Error {
  readonly status: number;
  readonly scimType: ScimType | undefined;

  constructor(status: number, detail: string, scimType?: ScimType) {
    super(detail);
    this.status = status;
    this.scimType = scimType;
  }
}

/** 400 with a scimType: the request is wrong in the way the type says. */
export const badRequest = (scimType: ScimType, detail: string) => new ScimError(400, detail, scimType);

const DOMAIN_STATUS: Record<string, { status: number; scimType?: ScimType }> = {
  NotFound: { status: 404 },
  AlreadyExists: { status: 409, scimType: "uniqueness" },
  InvalidArgument: { status: 400, scimType: "invalidValue" },
  FailedPrecondition: { status: 400, scimType: "mutability" },
  PermissionDenied: { status: 403 },
  Unauthenticated: { status: 401 },
  ResourceExhausted: { status: 403 },
  QuotaExceeded: { status: 403 },
};

/** Any error as a SCIM error; undefined for unexpected ones (a 500, logged by the caller). */
export function asScimError(err: unknown): ScimError | undefined {
  if (err instanceof ScimError) return err;
  if (err instanceof DomainError) {
    const mapped = DOMAIN_STATUS[err.kind] ?? DOMAIN_STATUS[err.constructor.name];
    if (mapped) return new ScimError(mapped.status, err.message, mapped.scimType);
  }
  return undefined;
}

/** The SCIM Error body. */
export function errorBody(err: ScimError): Record<string, unknown> {
  return {
    schemas: [ERROR_SCHEMA],
    status: String(err.status),
    ...(err.scimType && { scimType: err.scimType }),
    detail: err.message,
  };
}
