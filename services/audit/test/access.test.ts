import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { EchoRequestSchema } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PLATFORM_TENANT_ID } from "../src/domain/record.ts";
import {
  type AuditEnv,
  as,
  auditEnv,
  Code,
  type InProcess,
  recordsOf,
  rejection,
  startInProcess,
  tokens,
} from "./support.ts";

let env: AuditEnv;
let svc: InProcess;
const A = randomUUID();
const B = randomUUID();
const NOBODY = randomUUID();

beforeAll(async () => {
  env = await auditEnv("audit_access");
  svc = await startInProcess(env);
  const payload = create(EchoRequestSchema, { message: "x" });
  for (const tenantId of [A, A, A, B, PLATFORM_TENANT_ID]) {
    await svc.publish({ tenantId, type: "thing.happened", aggregateId: "t", schema: EchoRequestSchema, payload });
  }
  await recordsOf(env, A, 3);
  await recordsOf(env, B, 1);
  await recordsOf(env, PLATFORM_TENANT_ID, 1);
});

afterAll(async () => {
  await svc?.stop();
  await env?.close();
});

/** Every surface, asked about one tenant's log with one token (each call started when invoked). */
function everySurface(tenantId: string, token: string) {
  const list = () => svc.client.listAuditEvents({ tenantId }, as(token));
  const verify = () => svc.client.verifyChain({ tenantId }, as(token));
  const exported = async () => {
    const out = [];
    for await (const res of svc.client.exportAuditEvents({ tenantId }, as(token))) out.push(...res.events);
    return out;
  };
  return [list, verify, exported] as const;
}

describe("tenant isolation", () => {
  it("tenant B cannot list, verify or export tenant A's log: NOT_FOUND exactly like a tenant that does not exist", async () => {
    const bAdmin = await tokens(env.issuer).tenantUser(B, ["owner"]);
    const answers = [];
    for (const target of [A, NOBODY]) {
      for (const call of everySurface(target, bAdmin)) {
        const err = await rejection(call());
        answers.push([err.code, err.rawMessage]);
      }
    }
    expect(new Set(answers.map((a) => JSON.stringify(a)))).toEqual(
      new Set([JSON.stringify([Code.NotFound, "audit log not found"])]),
    );
  });

  it("tenant B's own log holds only B's records", async () => {
    const bAdmin = await tokens(env.issuer).tenantUser(B);
    const [list, verify, exported] = everySurface("", bAdmin);
    expect((await list()).events.map((e) => e.tenantId)).toEqual([B]);
    expect(await verify()).toMatchObject({ ok: true, verifiedCount: 1n });
    expect((await exported()).map((e) => e.tenantId)).toEqual([B]);
  });

  it("platform events are visible to platform admins only", async () => {
    const bAdmin = await tokens(env.issuer).tenantUser(B, ["owner"]);
    for (const call of everySurface(PLATFORM_TENANT_ID, bAdmin)) {
      expect((await rejection(call())).code).toBe(Code.NotFound);
    }
    const operator = await tokens(env.issuer).platformAdmin();
    const [list, verify, exported] = everySurface(PLATFORM_TENANT_ID, operator);
    expect((await list()).events.map((e) => e.tenantId)).toEqual([PLATFORM_TENANT_ID]);
    expect((await verify()).ok).toBe(true);
    expect((await exported()).map((e) => e.action)).toEqual(["thing.happened"]);
    // a platform admin reads any tenant, but must say which
    expect((await svc.client.listAuditEvents({ tenantId: A }, as(operator))).events).toHaveLength(3);
    const unnamed = await rejection(svc.client.listAuditEvents({}, as(operator)));
    expect(unnamed.code).toBe(Code.InvalidArgument);
    // a platform role on a tenant's token grants nothing beyond the tenant
    const disguised = await tokens(env.issuer).tenantUser(B, ["platform-admin", "admin"]);
    expect((await rejection(svc.client.listAuditEvents({ tenantId: A }, as(disguised)))).code).toBe(Code.NotFound);
  });

  it("needs owner/admin, or an API key with the audit.read scope", async () => {
    const t = tokens(env.issuer);
    const member = await t.tenantUser(A, ["member"]);
    expect((await rejection(svc.client.listAuditEvents({}, as(member)))).code).toBe(Code.PermissionDenied);
    const scoped = await t.apiKey(A, ["audit.read"]);
    expect((await svc.client.listAuditEvents({}, as(scoped))).events).toHaveLength(3);
    const unscoped = await t.apiKey(A, ["project.read"]);
    expect((await rejection(svc.client.listAuditEvents({}, as(unscoped)))).code).toBe(Code.PermissionDenied);
    const foreignKey = await t.apiKey(B, ["audit.read"]);
    expect((await rejection(svc.client.verifyChain({ tenantId: A }, as(foreignKey)))).code).toBe(Code.NotFound);
    expect((await rejection(svc.client.listAuditEvents({}))).code).toBe(Code.Unauthenticated);
  });
});

describe("append-only storage", () => {
  it("the service's role can read and append but not update, delete or truncate records", async () => {
    const app = env.db.appUrl;
    const code = async (sql: string) => {
      try {
        await env.as(app, sql, [], A);
        return "ok";
      } catch (err) {
        return (err as { code?: string }).code;
      }
    };
    expect(await code("select count(*) from audit_records")).toBe("ok");
    expect(await code("update audit_records set actor_id = 'x'")).toBe("42501");
    expect(await code("delete from audit_records")).toBe("42501");
    expect(await code("truncate audit_records")).toBe("42501");
    expect(await code("update audit_checkpoints set seq = 1")).toBe("42501");
    // the owner (retention's role) has no update policy, so an update reaches no row; a trigger
    // refuses updates and truncation to everyone, the owner and superusers included
    const owner = env.db.ownerUrl;
    const updated = await env.as(owner, "update audit_records set actor_id = 'x' returning seq", [], A);
    expect(updated).toEqual([]);
    for (const [url, sql] of [
      [env.db.adminUrl, "update audit_records set actor_id = 'x'"],
      [owner, "truncate audit_records"],
      [env.db.adminUrl, "truncate audit_records"],
    ] as const) {
      const refused = await env.as(url, sql).catch((e: unknown) => e);
      expect(String((refused as Error).message)).toMatch(/append-only/);
    }
    // and nothing changed
    expect((await svc.client.verifyChain({}, as(await tokens(env.issuer).tenantUser(A)))).ok).toBe(true);
  });

  it("as the app role, a transaction set to tenant B sees none of A's records", async () => {
    const rows = await env.as<{ n: string }>(env.db.appUrl, "select count(*) as n from audit_records", [], B);
    expect(Number(rows[0]?.n)).toBe(1);
    const none = await env.as<{ n: string }>(env.db.appUrl, "select count(*) as n from audit_records");
    expect(Number(none[0]?.n)).toBe(0);
  });
});
