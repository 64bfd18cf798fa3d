import { createHash } from "node:crypto";
import { InvalidArgument } from "@tessera/platform/errors";
import type { ActorKindName, AuditRecord } from "./record.ts";
import { RECORD_COLUMNS, type RecordRow, recordFromRow, type Sql } from "./sql.ts";

/** Which records a list or export returns; absent fields match everything. */
export interface AuditFilter {
  readonly start?: Date;
  readonly end?: Date;
  readonly actorId?: string;
  readonly actorKind?: ActorKindName;
  readonly action?: string;
  readonly targetType?: string;
  readonly targetId?: string;
}

/** One page of a list, newest first. */
export interface RecordPage {
  readonly records: AuditRecord[];
  readonly nextPageToken: string;
}

const TOKEN_FIELD = "page.page_token";

/** A stable fingerprint of the tenant and filter a page token belongs to. */
function fingerprint(tenantId: string, filter: AuditFilter): string {
  const parts = [
    tenantId,
    filter.start?.toISOString() ?? "",
    filter.end?.toISOString() ?? "",
    filter.actorId ?? "",
    filter.actorKind ?? "",
    filter.action ?? "",
    filter.targetType ?? "",
    filter.targetId ?? "",
  ];
  return createHash("sha256").update(JSON.stringify(parts)).digest("base64url").slice(0, 16);
}

const checksum = (body: string) => createHash("sha256").update(`audit-page:${body}`).digest("base64url").slice(0, 12);

/** An opaque cursor: the last sequence returned, bound to tenant and filter, with a checksum. */
export function encodePageToken(seq: number, tenantId: string, filter: AuditFilter): string {
  const body = Buffer.from(JSON.stringify({ s: seq, f: fingerprint(tenantId, filter) })).toString("base64url");
  return `${body}.${checksum(body)}`;
}

/** The sequence a page token continues after; InvalidArgument for an altered or foreign token. */
export function decodePageToken(token: string, tenantId: string, filter: AuditFilter): number {
  const bad = (message: string) => new InvalidArgument("bad page token", [{ field: TOKEN_FIELD, message }]);
  const [body, sum, ...rest] = token.split(".");
  if (!body || !sum || rest.length > 0 || checksum(body) !== sum) throw bad("not a token this service issued");
  let parsed: { s?: unknown; f?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as { s?: unknown; f?: unknown };
  } catch {
    throw bad("not a token this service issued");
  }
  if (parsed.f !== fingerprint(tenantId, filter)) throw bad("the token belongs to another query; start again");
  if (typeof parsed.s !== "number" || !Number.isSafeInteger(parsed.s) || parsed.s < 1) throw bad("malformed");
  return parsed.s;
}

function where(tenantId: string, filter: AuditFilter): { clause: string; params: unknown[] } {
  const conditions = ["tenant_id = ?"];
  const params: unknown[] = [tenantId];
  const add = (condition: string, value: unknown) => {
    conditions.push(condition);
    params.push(value);
  };
  if (filter.start) add("occurred_at >= ?", filter.start);
  if (filter.end) add("occurred_at < ?", filter.end);
  if (filter.actorId) add("actor_id = ?", filter.actorId);
  if (filter.actorKind) add("actor_kind = ?", filter.actorKind);
  if (filter.action) add("action = ?", filter.action);
  if (filter.targetType) add("target_type = ?", filter.targetType);
  if (filter.targetId) add("target_id = ?", filter.targetId);
  return { clause: conditions.join(" and "), params };
}

/** One page of a tenant's records matching the filter, newest first, after the token's position. */
export async function listRecords(
  sql: Sql,
  tenantId: string,
  filter: AuditFilter,
  page: { size: number; token: string },
): Promise<RecordPage> {
  const { clause, params } = where(tenantId, filter);
  const before = page.token ? decodePageToken(page.token, tenantId, filter) : undefined;
  const cursor = before === undefined ? "" : " and seq < ?";
  const rows = await sql<RecordRow>(
    `select ${RECORD_COLUMNS} from audit_records where ${clause}${cursor} order by seq desc limit ?`,
    [...params, ...(before === undefined ? [] : [before]), page.size + 1],
  );
  const records = rows.slice(0, page.size).map(recordFromRow);
  const last = records.at(-1);
  const nextPageToken = rows.length > page.size && last ? encodePageToken(last.seq, tenantId, filter) : "";
  return { records, nextPageToken };
}

/**
 * The next batch of a tenant's records matching the filter in chain order (oldest first): those
 * after `afterSeq` up to `untilSeq` (the head when the export started, so an export is finite).
 */
export async function exportBatch(
  sql: Sql,
  tenantId: string,
  filter: AuditFilter,
  afterSeq: number,
  untilSeq: number,
  size: number,
): Promise<AuditRecord[]> {
  const { clause, params } = where(tenantId, filter);
  const rows = await sql<RecordRow>(
    `select ${RECORD_COLUMNS} from audit_records where ${clause} and seq > ? and seq <= ? order by seq limit ?`,
    [...params, afterSeq, untilSeq, size],
  );
  return rows.map(recordFromRow);
}

/** The tenant's head sequence (0 when nothing was ever recorded). */
export async function headSeq(sql: Sql, tenantId: string): Promise<number> {
  const [row] = await sql<{ last_seq: string | number }>(`select last_seq from audit_heads where tenant_id = ?`, [
    tenantId,
  ]);
  return row ? Number(row.last_seq) : 0;
}
