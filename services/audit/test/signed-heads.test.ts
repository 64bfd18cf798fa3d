import { execFile } from "node:child_process";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { createLogger } from "@tessera/platform/log";
import { ChainFinding } from "@tessera/proto/tessera/audit/v1/audit_pb";
import { EchoRequestSchema } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { captureLogs } from "@tessera/test/harness";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson, chainHash } from "../src/domain/record.ts";
import { enforceRetention } from "../src/domain/retention.ts";
import { auditKeys, loadSigner, signStatement } from "../src/domain/signing.ts";
import { pgSql, RECORD_COLUMNS, type RecordRow, recordFromRow } from "../src/domain/sql.ts";
import { verifyChain } from "../src/domain/verify.ts";
import { type HeadStore, openHeadStore } from "../src/events/publish-heads.ts";
import {
  type AuditEnv,
  as,
  auditEnv,
  eventually,
  type InProcess,
  recordsOf,
  startInProcess,
  tokens,
} from "./support.ts";

const CLI = join(import.meta.dirname, "../../../tools/dev/src/cli.ts");
let env: AuditEnv;
let svc: InProcess;
let store: HeadStore;
let dir: string;
let keysFile: string;

beforeAll(async () => {
  env = await auditEnv("audit_signed");
  svc = await startInProcess(env);
  store = await openHeadStore(svc.nats);
  dir = mkdtempSync(join(tmpdir(), "audit-bundles-"));
  keysFile = join(dir, "keys.pem");
  writeFileSync(keysFile, env.publicKey);
}, 60_000);

afterAll(async () => {
  await svc?.stop();
  await env?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Publishes `n` events for a tenant and waits until their head is signed and published. */
async function seed(tenant: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await svc.publish({
      tenantId: tenant,
      type: "doc.edited",
      aggregateId: `d${i}`,
      schema: EchoRequestSchema,
      payload: create(EchoRequestSchema, { message: `${i}` }),
    });
  }
  await recordsOf(env, tenant, n);
  await eventually(async () => {
    const head = await store.latestHead(tenant);
    return head && JSON.parse(head.payload).sequence === n ? true : undefined;
  }, `the signed head of ${tenant} at ${n}`);
}

/**
 * Runs statements as the database owner (what a DBA or a leaked owner credential can do): the owner
 * may switch off the append-only trigger and row-level security of its own table, and back on.
 */
async function asOwner(tenant: string, fn: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: env.db.ownerUrl, statement_timeout: 10_000 });
  await client.connect();
  try {
    await client.query("begin");
    await client.query("select set_config('app.tenant_id', $1, true)", [tenant]);
    await client.query("alter table audit_records disable trigger audit_records_no_update");
    await client.query("alter table audit_records no force row level security");
    await fn(client);
    await client.query("alter table audit_records force row level security");
    await client.query("alter table audit_records enable trigger audit_records_no_update");
    await client.query("commit");
  } catch (err) {
    await client.query("rollback").catch(() => {});
    throw err;
  } finally {
    await client.end();
  }
}

/** The database-only verdict (what VerifyChain answered before heads were signed). */
async function databaseOnly(tenant: string) {
  const client = new pg.Client({ connectionString: env.db.adminUrl, statement_timeout: 10_000 });
  await client.connect();
  try {
    return await verifyChain(pgSql(client), tenant);
  } finally {
    await client.end();
  }
}

function cli(args: string[], extraEnv: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { timeout: 60_000, env: { ...process.env, ...extraEnv } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `./tessera audit export` as a platform operator, then `./tessera audit verify` of the bundle. */
async function exportAndVerify(tenant: string) {
  const bundle = join(dir, `${tenant}.ndjson`);
  const token = await tokens(env.issuer).platformAdmin();
  const exported = await cli(["audit", "export", "--tenant", tenant, "--out", bundle, "--audit-url", svc.url], {
    TESSERA_TOKEN: token,
  });
  expect(exported, exported.stderr).toMatchObject({ code: 0 });
  return cli(["audit", "verify", "--bundle", bundle, "--keys", keysFile]);
}

const verify = async (tenant: string) =>
  svc.client.verifyChain({}, as(await tokens(env.issuer).tenantUser(tenant, ["owner"])));

describe("signed chain heads", () => {
  it("an untouched log verifies against its published signed head, in the service and offline", async () => {
    const tenant = randomUUID();
    await seed(tenant, 4);
    const verdict = await verify(tenant);
    expect(verdict).toMatchObject({ ok: true, finding: ChainFinding.INTACT, anchored: true, unsignedCount: 0n });
    expect(JSON.parse(verdict.publishedHead?.payload ?? "{}")).toMatchObject({ tenant_id: tenant, sequence: 4 });
    const offline = await exportAndVerify(tenant);
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.stdout).toMatch(/^intact: 4 records \(1–4\)/);
  });

  it("finds a record rewritten with every later hash recomputed: the database agrees with itself, not with the signed head", async () => {
    const tenant = randomUUID();
    await seed(tenant, 6);
    await asOwner(tenant, async (client) => {
      const sql = pgSql(client);
      const rows = await sql<RecordRow>(
        `select ${RECORD_COLUMNS} from audit_records where tenant_id = ? order by seq`,
        [tenant],
      );
      let prev = recordFromRow(rows[1] as RecordRow).hash;
      for (const row of rows.slice(2)) {
        const record = { ...recordFromRow(row), ...(row.seq === "3" || row.seq === 3 ? { actorId: "mallory" } : {}) };
        const hash = chainHash(prev, record);
        await sql(`update audit_records set actor_id = ?, prev_hash = ?, hash = ? where tenant_id = ? and seq = ?`, [
          record.actorId,
          prev,
          hash,
          tenant,
          record.seq,
        ]);
        prev = hash;
      }
      await sql(`update audit_heads set last_hash = ? where tenant_id = ?`, [prev, tenant]);
    });
    expect(await databaseOnly(tenant)).toMatchObject({ ok: true, verified: 6 });

    const verdict = await verify(tenant);
    expect(verdict).toMatchObject({ ok: false, finding: ChainFinding.HEAD_MISMATCH, firstBrokenSequence: 6n });
    expect(verdict.reason).toMatch(/record at sequence 6 does not carry the hash of the published signed head/);
    const offline = await exportAndVerify(tenant);
    expect(offline.code).toBe(1);
    expect(offline.stderr).toMatch(/NOT INTACT \(head_mismatch at sequence 6\).*rewritten/);

    // audit never signs the rewritten history: the next event is recorded, its head is not signed
    await svc.publish({
      tenantId: tenant,
      type: "doc.edited",
      aggregateId: "d",
      schema: EchoRequestSchema,
      payload: create(EchoRequestSchema),
    });
    await recordsOf(env, tenant, 7);
    await svc.audit.heads()?.flush();
    expect(JSON.parse((await store.latestHead(tenant))?.payload ?? "{}").sequence).toBe(6);
    expect(await verify(tenant)).toMatchObject({ finding: ChainFinding.HEAD_MISMATCH, unsignedCount: 1n });
  });

  it("finds a truncated tail with the head moved back: the published head is ahead of the database", async () => {
    const tenant = randomUUID();
    await seed(tenant, 6);
    await asOwner(tenant, async (client) => {
      await client.query("delete from audit_records where tenant_id = $1 and seq > 4", [tenant]);
      await client.query(
        "update audit_heads set last_seq = 4, last_hash = (select hash from audit_records where tenant_id = $1 and seq = 4) where tenant_id = $1",
        [tenant],
      );
    });
    expect(await databaseOnly(tenant)).toMatchObject({ ok: true, verified: 4 });

    const verdict = await verify(tenant);
    expect(verdict).toMatchObject({ ok: false, finding: ChainFinding.TRUNCATED, firstBrokenSequence: 5n });
    expect(verdict.reason).toMatch(/published signed head is at sequence 6 .* records 5–6 were removed/);
    const offline = await exportAndVerify(tenant);
    expect(offline.code).toBe(1);
    expect(offline.stderr).toMatch(/NOT INTACT \(truncated at sequence 5\).*records 5–6 were removed/);
  });

  it("finds a prefix deleted behind a forged checkpoint: its signature is not a trusted key's and it was never published", async () => {
    const tenant = randomUUID();
    await seed(tenant, 6);
    const forger = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    await asOwner(tenant, async (client) => {
      const [row] = (await client.query("select hash from audit_records where tenant_id = $1 and seq = 3", [tenant]))
        .rows as Array<{ hash: Buffer }>;
      const hash = row?.hash as Buffer;
      const forged = signStatement(loadSigner(forger), {
        format: "tessera-audit-checkpoint/1",
        tenant_id: tenant,
        sequence: 3,
        hash: hash.toString("hex"),
        signed_at: new Date().toISOString(),
      });
      await client.query("delete from audit_records where tenant_id = $1 and seq <= 3", [tenant]);
      await client.query(
        "insert into audit_checkpoints (tenant_id, seq, hash, removed, statement, signature, key_id) values ($1, 3, $2, 3, $3, $4, $5)",
        [tenant, hash, forged.payload, forged.signature, forged.keyId],
      );
    });
    expect(await databaseOnly(tenant)).toMatchObject({ ok: true, from: 4, to: 6, verified: 3 });

    const verdict = await verify(tenant);
    expect(verdict).toMatchObject({ ok: false, finding: ChainFinding.CHECKPOINT_UNSIGNED, firstBrokenSequence: 1n });
    expect(verdict.reason).toMatch(
      /checkpoint at sequence 3 is not trustworthy: it is signed with key \w+, which is not trusted/,
    );
    expect(verdict.reason).toMatch(/not among the published checkpoints/);
    const offline = await exportAndVerify(tenant);
    expect(offline.code).toBe(1);
    expect(offline.stderr).toMatch(/NOT INTACT \(checkpoint_unsigned at sequence 1\).*checkpoint at sequence 3/);
    // an unsigned one is refused the same way
    await asOwner(tenant, (client) =>
      client
        .query("update audit_checkpoints set statement = $2, signature = null where tenant_id = $1", [
          tenant,
          canonicalJson({ tenant_id: tenant, sequence: 3 }),
        ])
        .then(() => {}),
    );
    expect((await verify(tenant)).reason).toMatch(/checkpoint at sequence 3 is not trustworthy: it is not signed/);
  });

  it("retention's signed checkpoints verify, and retention keeps a log that disagrees with its signed head", async () => {
    const tenant = randomUUID();
    await seed(tenant, 3);
    const owner = new pg.Pool({ connectionString: env.db.ownerUrl, max: 2 });
    try {
      const outcomes = await enforceRetention({
        pool: owner,
        platformRetentionDays: 365,
        logger: createLogger({ service: "audit", destination: captureLogs("audit-signed-retention").stream }),
        now: () => new Date(Date.now() + 8 * 24 * 60 * 60 * 1000),
        signer: loadSigner(env.signingKey),
        keys: auditKeys(env.signingKey),
        store,
      });
      expect(outcomes.find((o) => o.tenantId === tenant)).toMatchObject({ removed: 3, checkpointSeq: 3 });
      // the tenants tampered with above keep their records as evidence
      const refused = outcomes.filter((o) => o.refused).map((o) => o.refused);
      expect(refused).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/record at 6 differs from the published head/),
          expect.stringMatching(/published head \(6\) is beyond the log/),
          expect.stringMatching(/checkpoint at 3 the chain starts from: it is not signed/),
        ]),
      );
    } finally {
      await owner.end();
    }
    expect(await store.checkpoint(tenant, 3)).toBeDefined();
    for (let i = 0; i < 2; i++) {
      await svc.publish({
        tenantId: tenant,
        type: "doc.edited",
        aggregateId: "d",
        schema: EchoRequestSchema,
        payload: create(EchoRequestSchema),
      });
    }
    await eventually(async () => {
      const head = await store.latestHead(tenant);
      return head && JSON.parse(head.payload).sequence === 5 ? true : undefined;
    }, "the head at 5");
    expect(await verify(tenant)).toMatchObject({
      ok: true,
      finding: ChainFinding.INTACT,
      anchored: true,
      fromSequence: 4n,
      toSequence: 5n,
      checkpoint: { sequence: 3n },
    });
    const offline = await exportAndVerify(tenant);
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.stdout).toMatch(/intact: 2 records \(4–5\).*signed checkpoint at 3/);
  });
});
