import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { etagOf, noneMatchHits } from "../../etag.ts";
import { IDEMPOTENCY_KEY_PATTERN } from "../../idempotency.ts";
import { notFound, PROBLEM_MEDIA_TYPE } from "../../problems.ts";

/** Shape of ids in paths and bodies (the contract's pattern: any UUID, either case). */
export const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** An id in a request body. */
export const uuid = () => z.string().regex(UUID_PATTERN, "must be a UUID");

/** RFC 9457 problem details, the body of every error response. */
export const ProblemSchema = z
  .object({
    type: z.string().describe("URI of the problem kind, e.g. urn:tessera:problem:not-found"),
    title: z.string().describe("Short summary of the problem kind"),
    status: z.int().describe("The HTTP status code"),
    detail: z.string().describe("What went wrong with this request"),
    errors: z
      .array(z.object({ field: z.string(), message: z.string() }))
      .optional()
      .describe("Field-level problems (body fields, query parameters, or header names)"),
    quota: z
      .string()
      .optional()
      .describe("`quota-exceeded` only: the plan quota used up (`projects`, `seats`, `storage_bytes`)"),
    limit: z.int().optional().describe("`quota-exceeded` only: that quota's limit on the tenant's plan"),
  })
  .meta({ id: "Problem", description: "RFC 9457 problem details (application/problem+json)." });

const PROBLEM_TEXT: Record<number, string> = {
  400: "Invalid request: see `errors` for the fields.",
  401: "Missing, invalid, expired or revoked credentials.",
  403: "The credential lacks a permission or scope this needs, or (`quota-exceeded`) the change would exceed a quota of the tenant's plan: see `quota` and `limit`.",
  404: "No such resource (also for malformed ids and other tenants' ids).",
  409: "Conflict with the resource's state, or the Idempotency-Key is still in use.",
  412: "If-Match does not match the resource's current ETag.",
  413: "The request body is too large.",
  415: "The request body must be application/json.",
  422: "The Idempotency-Key was used with a different request.",
  429: "The tenant's requests-per-minute quota is used up: see Retry-After.",
  500: "Internal error.",
  503: "A service behind the edge is unavailable; retry later.",
  504: "A service behind the edge did not answer in time; retry later.",
};

/** OpenAPI responses for these error statuses (problem+json). */
export function problemResponses(...statuses: number[]) {
  const out: Record<number, { description: string; content: Record<string, { schema: typeof ProblemSchema }> }> = {};
  for (const status of [...statuses, 401, 429, 500, 503]) {
    out[status] = {
      description: PROBLEM_TEXT[status] ?? "Error",
      content: { [PROBLEM_MEDIA_TYPE]: { schema: ProblemSchema } },
    };
  }
  return out;
}

/**
 * A path id: a malformed one gets the very 404 an unknown or foreign one gets (not a 400), so
 * probing learns nothing. Returned in canonical lower case.
 */
export function pathId(value: string): string {
  if (!UUID_PATTERN.test(value)) throw notFound();
  return value.toLowerCase();
}

/** Cursor pagination parameters shared by every list. */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(100).default(50).describe("Items per page (1–100, default 50)"),
  cursor: z
    .string()
    .min(1)
    .max(1024)
    .optional()
    .describe("`next_cursor` of the previous page; only valid for the same list and filters"),
};

/** The contract's page request from the REST parameters. */
export function pageRequest(q: { limit: number; cursor?: string | undefined }) {
  return { pageSize: q.limit, pageToken: q.cursor ?? "" };
}

/** `next_cursor`: null on the last page. */
export function nextCursor(page: { nextPageToken: string } | undefined): string | null {
  return page?.nextPageToken ? page.nextPageToken : null;
}

/** A list page: `data` and `next_cursor`. */
export function listOf<T extends z.ZodType>(item: T, id: string) {
  return z
    .object({
      data: z.array(item),
      next_cursor: z.string().nullable().describe("Pass as `cursor` for the next page; null on the last page"),
    })
    .meta({ id });
}

/** Headers of single-resource reads. */
export const readHeaders = z.looseObject({
  "if-none-match": z.string().optional().describe("An ETag from an earlier read: 304 when unchanged"),
});

/** Headers of creations. */
export const createHeaders = z.looseObject({
  "idempotency-key": z
    .string()
    .regex(IDEMPOTENCY_KEY_PATTERN, "must be 1–255 visible ASCII characters")
    .optional()
    .describe(
      "Makes the POST safe to retry for 24 h: the same key and body replay the first response (Idempotent-Replayed: true); another body → 422; while the first is running → 409",
    ),
});

/** Headers of conditional changes. */
export const changeHeaders = z.looseObject({
  "if-match": z.string().optional().describe("The resource's ETag: the change applies only at that version (else 412)"),
});

/** Headers of conditional creations (move). */
export const createChangeHeaders = z.looseObject({ ...createHeaders.shape, ...changeHeaders.shape });

/** RFC 3339 time of a contract timestamp. */
export function isoTime(ts: Timestamp | undefined): string {
  return ts ? timestampDate(ts).toISOString() : new Date(0).toISOString();
}

/** An RFC 3339 timestamp in a representation. */
export const timestamp = () => z.string().describe("RFC 3339 timestamp (UTC)");

/**
 * Answers a single-resource read: the ETag always, and 304 with no body when the client's
 * If-None-Match already names this version.
 */
export function withEtag<T>(req: FastifyRequest, reply: FastifyReply, version: number, body: T): T | FastifyReply {
  const etag = etagOf(version);
  reply.header("etag", etag);
  const ifNoneMatch = req.headers["if-none-match"];
  if (typeof ifNoneMatch === "string" && noneMatchHits(ifNoneMatch, etag)) return reply.code(304).send();
  return body;
}

/** Route config shared by every /v1 API route. */
export const apiRoute = { tessera: { auth: true } } as const;
/** Route config of /v1 creations (Idempotency-Key). */
export const createRoute = { tessera: { auth: true, idempotent: true } } as const;
