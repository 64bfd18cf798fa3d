import { Readable } from "node:stream";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import type { AuditEvent, AuditFilterSchema, AuditService } from "@tessera/proto/tessera/audit/v1/audit_pb";
import { ActorKind, Outcome } from "@tessera/proto/tessera/common/v1/event_pb";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { requiresScope } from "../../openapi.ts";
import { ProblemError } from "../../problems.ts";
import {
  apiRoute,
  isoTime,
  listOf,
  nextCursor,
  pageQuery,
  pageRequest,
  problemResponses,
  timestamp,
} from "./common.ts";

/** The media type of an export: one JSON audit record per line. */
export const NDJSON_MEDIA_TYPE = "application/x-ndjson";

const ACTOR_KINDS: Record<number, string> = {
  [ActorKind.USER]: "user",
  [ActorKind.API_KEY]: "api_key",
  [ActorKind.SERVICE]: "service",
  [ActorKind.SYSTEM]: "system",
};
const OUTCOMES: Record<number, string> = {
  [Outcome.SUCCESS]: "success",
  [Outcome.FAILURE]: "failure",
  [Outcome.DENIED]: "denied",
};

/** An audit record as the REST API shows it. */
export const AuditEventSchema = z
  .object({
    sequence: z.int().describe("Position in the tenant's chain: 1, 2, 3, … without gaps"),
    event_id: z.string().describe("The id of the recorded event"),
    action: z.string().describe('What happened, e.g. "project.created"'),
    occurred_at: timestamp(),
    recorded_at: timestamp(),
    actor: z.object({
      kind: z.enum(["user", "api_key", "service", "system", "unknown"]),
      id: z.string().describe("User id, API key id or service name"),
    }),
    target: z.object({
      type: z.string().describe('The kind of object, e.g. "project"'),
      id: z.string(),
    }),
    outcome: z.enum(["success", "failure", "denied", "unknown"]),
    source_ip: z.string().nullable().describe("The client's address, when known"),
    user_agent: z.string().nullable().describe("The client's User-Agent, when known"),
    previous_hash: z.string().describe("Hex SHA-256 of the previous record (64 zeros for the first)"),
    hash: z.string().describe("Hex SHA-256 of the previous hash and this record"),
  })
  .meta({ id: "AuditEvent" });

type AuditEventView = z.infer<typeof AuditEventSchema>;

/** The contract's audit record as the REST representation. */
export function auditEventView(e: AuditEvent): AuditEventView {
  return {
    sequence: Number(e.sequence),
    event_id: e.eventId,
    action: e.action,
    occurred_at: isoTime(e.occurTime),
    recorded_at: isoTime(e.recordTime),
    actor: {
      kind: (ACTOR_KINDS[e.actor?.kind ?? 0] ?? "unknown") as AuditEventView["actor"]["kind"],
      id: e.actor?.id ?? "",
    },
    target: { type: e.target?.type ?? "", id: e.target?.id ?? "" },
    outcome: (OUTCOMES[e.outcome] ?? "unknown") as AuditEventView["outcome"],
    source_ip: e.sourceIp || null,
    user_agent: e.userAgent || null,
    previous_hash: e.previousHash,
    hash: e.hash,
  };
}

const rfc3339 = z.iso
  .datetime({ offset: true })
  .describe("RFC 3339 timestamp, e.g. 2026-01-31T12:00:00Z")
  .transform((v) => new Date(v));

const filterQuery = {
  since: rfc3339.optional().describe("Records that occurred at or after this instant (RFC 3339)"),
  until: rfc3339.optional().describe("Records that occurred before this instant (RFC 3339; after `since`)"),
  actor_id: z.string().min(1).max(256).optional().describe("A user id, API key id or service name"),
  action: z
    .string()
    .regex(/^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$/, 'must be an action such as "project.created"')
    .max(128)
    .optional()
    .describe('An action, e.g. "project.created"'),
  target_id: z.string().min(1).max(256).optional().describe("The target's id"),
};

type FilterQuery = {
  since?: Date | undefined;
  until?: Date | undefined;
  actor_id?: string | undefined;
  action?: string | undefined;
  target_id?: string | undefined;
};

function auditFilter(q: FilterQuery): MessageInitShape<typeof AuditFilterSchema> {
  return {
    ...(q.since && { startTime: timestampFromDate(q.since) }),
    ...(q.until && { endTime: timestampFromDate(q.until) }),
    actorId: q.actor_id ?? "",
    action: q.action ?? "",
    targetId: q.target_id ?? "",
  };
}

const VerificationSchema = z
  .object({
    ok: z.boolean().describe("Every record links to its predecessor and hashes to its stored hash, without gaps"),
    first_broken_sequence: z.int().nullable().describe("Where the chain breaks; null when ok"),
    reason: z.string().nullable().describe('Why it breaks there, e.g. "hash mismatch"; null when ok'),
    from_sequence: z.int().describe("First sequence verified (0: empty log)"),
    to_sequence: z.int().describe("Last sequence verified (0: empty log)"),
    verified_count: z.int().describe("Records checked"),
  })
  .meta({ id: "AuditChainVerification" });

/**
 * /v1/audit-events: the caller's tenant's audit log over audit's gRPC API (the audience `audit`):
 * list (newest first, cursor paging), export (NDJSON, oldest first, streamed) and verify the chain.
 * The tenant is always the caller's own (the exchanged token's); audit enforces role and scope
 * (`audit.read`). Without an audit client (AUDIT_URL unset) every route answers 503.
 */
export function auditEventRoutes(app: FastifyInstance, audit: Client<typeof AuditService> | undefined): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ["audit"];
  const client = (): Client<typeof AuditService> => {
    if (!audit) throw new ProblemError("unavailable", "The audit log is not configured on this edge.");
    return audit;
  };

  r.get(
    "/v1/audit-events",
    {
      config: apiRoute,
      schema: {
        operationId: "listAuditEvents",
        security: requiresScope("audit.read"),
        summary: "List the tenant's audit records (newest first)",
        tags,
        querystring: z.object({ ...filterQuery, ...pageQuery }),
        response: { 200: listOf(AuditEventSchema, "AuditEventList"), ...problemResponses(400, 403) },
      },
    },
    async (req) => {
      const res = await client().listAuditEvents({ filter: auditFilter(req.query), page: pageRequest(req.query) });
      return { data: res.events.map(auditEventView), next_cursor: nextCursor(res.page) };
    },
  );

  r.get(
    "/v1/audit-events/export",
    {
      config: apiRoute,
      schema: {
        operationId: "exportAuditEvents",
        security: requiresScope("audit.read"),
        summary: "Export the tenant's audit records as NDJSON (oldest first, streamed)",
        tags,
        querystring: z.object(filterQuery),
        response: {
          200: {
            description: "One AuditEvent JSON object per line",
            content: { [NDJSON_MEDIA_TYPE]: { schema: AuditEventSchema } },
          },
          ...problemResponses(400, 403),
        },
      },
    },
    async (req, reply) => {
      // the first batch is read here (in the request's scope: token, trace), so a refusal is still a problem+json
      const batches = client()
        .exportAuditEvents({ filter: auditFilter(req.query) })
        [Symbol.asyncIterator]();
      const first = await batches.next();
      async function* lines(): AsyncGenerator<string> {
        let batch = first;
        while (!batch.done) {
          if (batch.value.events.length > 0) {
            yield batch.value.events.map((e) => `${JSON.stringify(auditEventView(e))}\n`).join("");
          }
          batch = await batches.next();
        }
      }
      reply.type(NDJSON_MEDIA_TYPE);
      // a stream is sent as is (no serializer); the schema only documents the lines
      return reply.send(Readable.from(lines(), { objectMode: false }) as never);
    },
  );

  r.get(
    "/v1/audit-events/verify",
    {
      config: apiRoute,
      schema: {
        operationId: "verifyAuditChain",
        security: requiresScope("audit.read"),
        summary: "Recompute the tenant's audit hash chain",
        tags,
        response: { 200: VerificationSchema, ...problemResponses(403) },
      },
    },
    async () => {
      const v = await client().verifyChain({});
      return {
        ok: v.ok,
        first_broken_sequence: v.ok ? null : Number(v.firstBrokenSequence),
        reason: v.ok ? null : v.reason || null,
        from_sequence: Number(v.fromSequence),
        to_sequence: Number(v.toSequence),
        verified_count: Number(v.verifiedCount),
      };
    },
  );
}
