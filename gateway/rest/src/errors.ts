import { ConnectError } from "@connectrpc/connect";
import type { Logger } from "@tessera/platform/log";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import {
  type FieldError,
  fromConnectError,
  fromDomainError,
  isDomainError,
  NOT_FOUND_DETAIL,
  PROBLEM_MEDIA_TYPE,
  ProblemError,
} from "./problems.ts";
import { inRequestScope, stateOf } from "./request-state.ts";

type ValidationContext = "body" | "querystring" | "params" | "headers";

interface ValidationIssue {
  keyword: string;
  instancePath: string;
  message: string;
  params: { keys?: unknown };
}

/** `idempotency-key` → `Idempotency-Key`, as partners write header names. */
function headerName(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}

/** A JSON pointer into the request as a REST field name: `labels[2]`, `cursor`, `Idempotency-Key`. */
function fieldOf(context: ValidationContext, instancePath: string): string {
  const parts = instancePath.split("/").filter((p) => p !== "");
  if (context === "headers") return headerName(parts[0] ?? "headers");
  if (parts.length === 0) return context === "body" ? "body" : "query";
  return parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");
}

function validationProblem(context: ValidationContext, issues: readonly ValidationIssue[]): ProblemError {
  const errors: FieldError[] = [];
  for (const issue of issues) {
    const keys = issue.params.keys;
    if (issue.keyword === "unrecognized_keys" && Array.isArray(keys)) {
      const base = fieldOf(context, issue.instancePath);
      for (const key of keys) {
        const field = base === "body" || base === "query" ? String(key) : `${base}.${String(key)}`;
        errors.push({ field, message: "is not a known field" });
      }
    } else {
      errors.push({ field: fieldOf(context, issue.instancePath), message: issue.message });
    }
  }
  return new ProblemError("invalid-request", "The request is invalid: see errors.", errors);
}

const FASTIFY_PROBLEMS: Record<string, () => ProblemError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => new ProblemError("payload-too-large", "The request body is too large."),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () =>
    new ProblemError("unsupported-media-type", "Send the request body as application/json."),
  FST_ERR_CTP_INVALID_TYPE: () =>
    new ProblemError("unsupported-media-type", "Send the request body as application/json."),
  FST_ERR_CTP_EMPTY_JSON_BODY: () =>
    new ProblemError("invalid-request", "The request body is empty.", [
      { field: "body", message: "must be a JSON object" },
    ]),
  FST_ERR_CTP_INVALID_JSON_BODY: () =>
    new ProblemError("invalid-request", "The request body is not valid JSON.", [
      { field: "body", message: "is not valid JSON" },
    ]),
};

/**
 * Any error a request ends with, as a problem: the edge's own ProblemErrors, gRPC errors through
 * the one mapping (problems.ts), kit domain errors, request validation (field-level errors),
 * Fastify's body errors (413, 415, malformed JSON); anything else is a logged 500 that says nothing.
 */
export function toProblem(err: unknown, logger: Logger): ProblemError {
  if (err instanceof ProblemError) return err;
  if (err instanceof ConnectError) return fromConnectError(err);
  if (isDomainError(err)) return fromDomainError(err);
  const fe = err as Partial<FastifyError> & { validationContext?: ValidationContext };
  if (hasZodFastifySchemaValidationErrors(err)) {
    return validationProblem(fe.validationContext ?? "body", fe.validation as unknown as ValidationIssue[]);
  }
  const known = fe.code ? FASTIFY_PROBLEMS[fe.code] : undefined;
  if (known) return known();
  if (err instanceof SyntaxError && fe.statusCode === 400)
    return (FASTIFY_PROBLEMS.FST_ERR_CTP_INVALID_JSON_BODY as () => ProblemError)();
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    if (fe.statusCode === 404) return new ProblemError("not-found", NOT_FOUND_DETAIL);
    return new ProblemError("invalid-request", "The request is invalid.");
  }
  logger.error({ err }, "unexpected error");
  return new ProblemError("internal", "An internal error occurred.");
}

/** Sends a problem as `application/problem+json` with its extra headers. */
export function sendProblem(reply: FastifyReply, p: ProblemError): FastifyReply {
  return reply.code(p.problem.status).headers(p.headers).type(PROBLEM_MEDIA_TYPE).send(JSON.stringify(p.problem));
}

/** Fastify's error handler: every error becomes problem+json (logged, if unexpected, with the request's ids). */
export function problemErrorHandler(logger: Logger) {
  return (err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply =>
    sendProblem(
      reply,
      inRequestScope(stateOf(req), () => toProblem(err, logger)),
    );
}
