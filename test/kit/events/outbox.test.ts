import { randomBytes, randomUUID } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { MikroORM } from "@mikro-orm/postgresql";
import { runAsTenant, runWithContext } from "@tessera/platform/context";
import { FailedPrecondition, InvalidArgument } from "@tessera/platform/errors";
import { enqueueEvent, eventsMigrationSql, outboxMigrationSql } from "@tessera/platform/events";
import { ActorKind, EventEnvelopeSchema } from "@tessera/proto/tessera/common/v1/event_pb";
import { freshDatabase, type TestDatabase } from "@tessera/test/harness";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Payload, payload, query } from "./rig.ts";

let db: TestDatabase;
let orm: MikroORM;
const tenant = randomUUID();

interface Row {
  id: string;
  tenant_id: string;
  subject: string;
  envelope: Buffer;
}

beforeAll(async () => {
  db = await freshDatabase("evo");
  for (const s of [...outboxMigrationSql(), "create table widgets (id uuid primary key, name text not null)"]) {
    await query(db.adminUrl, s);
  }
  orm = await MikroORM.init({
    clientUrl: db.adminUrl,
    entities: [],
    discovery: { warnWhenNoEntities: false },
    allowGlobalContext: false,
    pool: { min: 0, max: 4 },
  });
});

afterAll(async () => {
  await orm?.close(true);
  await db?.drop();
});

const rows = () => query<Row>(db.adminUrl, "select id, tenant_id, subject, envelope from tessera_outbox order by seq");

describe("enqueueEvent", () => {
  it("writes the event with the state change, from the request's tenant, actor and payload", async () => {
    const widget = randomUUID();
    const envelope = await runWithContext(
      {
        tenantId: tenant,
        principal: { subject: "user-7", kind: "user", roles: [], scopes: [], actorChain: [] },
      },
      () =>
        orm.em.fork().transactional(async (em) => {
          await em.execute("insert into widgets (id, name) values (?, ?)", [widget, "w"], "run");
          return enqueueEvent(em, {
            type: "widget.created",
            aggregateId: widget,
            schema: Payload,
            payload: payload("hi"),
          });
        }),
    );
    const stored = (await rows()).find((r) => r.id === envelope.id);
    expect(stored?.subject).toBe(`tessera.evt.${tenant}.widget.created`);
    expect(stored?.tenant_id).toBe(tenant);
    const decoded = fromBinary(EventEnvelopeSchema, new Uint8Array(stored?.envelope ?? []));
    expect(decoded.type).toBe("widget.created");
    expect(decoded.tenantId).toBe(tenant);
    expect(decoded.aggregateId).toBe(widget);
    expect(decoded.actor).toMatchObject({ kind: ActorKind.USER, id: "user-7" });
    expect(decoded.occurredAt).toBeDefined();
    expect(decoded.payload && anyUnpack(decoded.payload, Payload)?.message).toBe("hi");
  });

  it("leaves nothing behind when the transaction rolls back", async () => {
    const before = (await rows()).length;
    let enqueued: string | undefined;
    await expect(
      runAsTenant(tenant, () =>
        orm.em.fork().transactional(async (em) => {
          await em.execute("insert into widgets (id, name) values (?, ?)", [randomUUID(), "doomed"], "run");
          enqueued = (
            await enqueueEvent(em, { type: "widget.created", aggregateId: "x", schema: Payload, payload: payload("") })
          ).id;
          throw new Error("business rule says no");
        }),
      ),
    ).rejects.toThrow("business rule says no");
    expect(enqueued).toBeDefined();
    expect(await rows()).toHaveLength(before);
    expect(await query(db.adminUrl, "select 1 from widgets where name = 'doomed'")).toHaveLength(0);
  });

  it("refuses to write outside a transaction", async () => {
    const err = await runAsTenant(tenant, () =>
      enqueueEvent(orm.em.fork(), { type: "widget.created", aggregateId: "x", schema: Payload, payload: payload("") }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPrecondition);
  });

  it("rejects bad input with a clear error and writes nothing", async () => {
    const before = (await rows()).length;
    const attempt = (event: Partial<Parameters<typeof enqueueEvent>[1]>, ctxTenant?: string) =>
      runWithContext({ tenantId: ctxTenant }, () =>
        orm.em.fork().transactional((em) =>
          enqueueEvent(em, {
            type: "widget.created",
            aggregateId: "a",
            schema: Payload,
            payload: payload(""),
            ...event,
          }),
        ),
      ).catch((e: unknown) => e);

    const badType = await attempt({ type: "Widget Created!" }, tenant);
    expect(badType).toBeInstanceOf(InvalidArgument);
    expect((badType as InvalidArgument).violations.map((v) => v.field)).toContain("type");

    const noTenant = await attempt({});
    expect(noTenant).toBeInstanceOf(InvalidArgument);
    expect((noTenant as Error).message).toMatch(/tenant/);

    const badTenant = await attempt({ tenantId: "not-a-uuid" });
    expect((badTenant as InvalidArgument).violations.map((v) => v.field)).toContain("tenant_id");

    const huge = await attempt({ payload: payload("x".repeat(600 * 1024)) }, tenant);
    expect(huge).toBeInstanceOf(InvalidArgument);
    expect((huge as Error).message).toMatch(/limit/);

    expect(await rows()).toHaveLength(before);
  });
});

describe("outbox row-level security", () => {
  const suffix = randomBytes(4).toString("hex");
  const appRole = `ev_app_${suffix}`;
  const relayRole = `ev_relay_${suffix}`;
  const password = randomBytes(12).toString("hex");
  let rlsDb: TestDatabase;
  const urlFor = (role: string) => {
    const url = new URL(rlsDb.adminUrl);
    url.username = role;
    url.password = password;
    return url.toString();
  };

  beforeAll(async () => {
    rlsDb = await freshDatabase("evr");
    for (const role of [appRole, relayRole]) {
      await query(rlsDb.adminUrl, `create role ${role} login password '${password}' nobypassrls`);
    }
    for (const s of eventsMigrationSql({ appRole, relayRole })) await query(rlsDb.adminUrl, s);
  });

  afterAll(async () => {
    await rlsDb?.drop();
    // roles are cluster-wide: drop them through the server's superuser URL once their database is gone
    for (const role of [appRole, relayRole]) await query(inject("pgAdminUrl"), `drop role if exists ${role}`);
  });

  const insertAs = (role: string, txTenant: string, rowTenant: string) =>
    query(
      urlFor(role),
      `with s as (select set_config('app.tenant_id', $1, false))
       insert into tessera_outbox (id, tenant_id, subject, envelope) select $2, $3, 'tessera.evt.x.a.b', '\\x00' from s`,
      [txTenant, randomUUID(), rowTenant],
    );

  it("lets the app role enqueue only for its current tenant and read nothing", async () => {
    const other = randomUUID();
    await insertAs(appRole, tenant, tenant);
    await expect(insertAs(appRole, tenant, other)).rejects.toThrow(/row-level security/);
    await expect(query(urlFor(appRole), "select * from tessera_outbox")).rejects.toThrow(/permission denied/);
  });

  it("lets the relay role see and remove every tenant's rows", async () => {
    const other = randomUUID();
    await insertAs(appRole, other, other);
    const seen = await query<{ tenant_id: string }>(urlFor(relayRole), "select tenant_id from tessera_outbox");
    expect(new Set(seen.map((r) => r.tenant_id))).toEqual(new Set([tenant, other]));
    await query(urlFor(relayRole), "delete from tessera_outbox");
    expect(await query(rlsDb.adminUrl, "select 1 from tessera_outbox")).toHaveLength(0);
  });

  it("keeps each tenant's consumed records to itself", async () => {
    const other = randomUUID();
    // one transaction per call, as the consumer's: set the tenant, then run the statement
    const asApp = async (txTenant: string, text: string, params: unknown[] = []) => {
      const client = new pg.Client({ connectionString: urlFor(appRole), statement_timeout: 10_000 });
      await client.connect();
      try {
        await client.query("begin");
        await client.query("select set_config('app.tenant_id', $1, true)", [txTenant]);
        const { rows } = await client.query<{ tenant_id: string }>(text, params);
        await client.query("commit");
        return rows;
      } finally {
        await client.end();
      }
    };
    const record = "insert into tessera_consumed (consumer, event_id, tenant_id) values ('c', $1, $2)";
    await asApp(tenant, record, [randomUUID(), tenant]);
    await asApp(other, record, [randomUUID(), other]);
    await expect(asApp(tenant, record, [randomUUID(), other])).rejects.toThrow(/row-level security/);
    const visible = await asApp(tenant, "select tenant_id from tessera_consumed");
    expect(visible.map((r) => r.tenant_id)).toEqual([tenant]);
  });
});
