import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { CallOptions, Client } from "@connectrpc/connect";
import type { AuditEvent, AuditService, SignedStatement } from "@tessera/proto/tessera/audit/v1/audit_pb";
import { ActorKind, Outcome } from "@tessera/proto/tessera/common/v1/event_pb";
import { BUNDLE_FORMAT, type BundleLine, type BundleRecord, type BundleStatement } from "./verify-bundle.ts";

const ACTOR_KINDS: Record<number, string> = {
  [ActorKind.USER]: "user",
  [ActorKind.API_KEY]: "api_key",
  [ActorKind.SERVICE]: "service",
  [ActorKind.SYSTEM]: "system",
  [ActorKind.UNSPECIFIED]: "unspecified",
};
const OUTCOMES: Record<number, string> = {
  [Outcome.SUCCESS]: "success",
  [Outcome.FAILURE]: "failure",
  [Outcome.DENIED]: "denied",
};

const iso = (t: AuditEvent["occurTime"]) => (t ? timestampDate(t).toISOString() : "");

/** An exported record as a bundle line (the canonical field names the hash covers). */
export function recordLine(e: AuditEvent): BundleRecord {
  return {
    type: "record",
    tenant_id: e.tenantId,
    sequence: Number(e.sequence),
    event_id: e.eventId,
    occurred_at: iso(e.occurTime),
    recorded_at: iso(e.recordTime),
    actor: { id: e.actor?.id ?? "", kind: ACTOR_KINDS[e.actor?.kind ?? 0] ?? "unspecified" },
    action: e.action,
    target: { id: e.target?.id ?? "", type: e.target?.type ?? "" },
    outcome: OUTCOMES[e.outcome] ?? "success",
    source_ip: e.sourceIp,
    user_agent: e.userAgent,
    previous_hash: e.previousHash,
    hash: e.hash,
  };
}

const statementLine = (type: "head" | "checkpoint", s: SignedStatement): BundleStatement => ({
  type,
  payload: s.payload,
  signature: s.signature,
  key_id: s.keyId,
});

/**
 * Writes a tenant's whole audit log (unfiltered ExportAuditEvents) as a bundle: a header line, the
 * signed head and checkpoint the export started with, then every record in chain order. Answers
 * the number of records written.
 */
export async function writeBundle(
  client: Client<typeof AuditService>,
  tenantId: string,
  file: string,
  call: CallOptions = {},
): Promise<number> {
  const out = createWriteStream(file, { mode: 0o600 });
  const write = async (line: BundleLine) => {
    if (!out.write(`${JSON.stringify(line)}\n`)) await once(out, "drain");
  };
  let records = 0;
  try {
    await write({
      type: "audit-bundle",
      format: BUNDLE_FORMAT,
      tenant_id: tenantId,
      exported_at: new Date().toISOString(),
    });
    for await (const res of client.exportAuditEvents({ tenantId }, call)) {
      if (res.head) await write(statementLine("head", res.head));
      if (res.checkpoint) await write(statementLine("checkpoint", res.checkpoint));
      for (const e of res.events) {
        await write(recordLine(e));
        records++;
      }
    }
  } finally {
    out.end();
    await once(out, "finish");
  }
  return records;
}

/** Reads a bundle's lines; throws with the line number of one that is not JSON. */
export async function readBundle(file: string): Promise<BundleLine[]> {
  const text = await readFile(file, "utf8");
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l, i) => {
      try {
        return JSON.parse(l) as BundleLine;
      } catch {
        throw new Error(`${file}:${i + 1} is not JSON`);
      }
    });
}
