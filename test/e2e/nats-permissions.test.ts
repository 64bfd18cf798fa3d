import { randomBytes, randomUUID } from "node:crypto";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { MikroORM } from "@mikro-orm/postgresql";
import { AckPolicy, DeliverPolicy, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type NatsConnection, PermissionViolationError } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { natsUrlWithCredentials, platformNatsUsers, type RunningNats, startNats } from "@tessera/dev/infra";
import { runAsTenant } from "@tessera/platform/context";
import {
  buildEnvelope,
  connectNats,
  DLQ_STREAM,
  deadLetterSubject,
  EVENTS_STREAM,
  encodeEnvelope,
  enqueueEvent,
  ensureStreams,
  eventsMigrationSql,
  NATS_ACCESS,
  NATS_ADMIN_USER,
  type NatsUser,
  type OutboxRelay,
  type RunningConsumer,
  startConsumer,
  startOutboxRelay,
} from "@tessera/platform/events";
import { createLogger } from "@tessera/platform/log";
import { TENANT_EVENTS_SUBJECT } from "@tessera/platform/tenancy-client";
import { TaskEventSchema, TaskSchema } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { EchoRequestSchema } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { captureLogs, freshDatabase, registerSecret, type TestDatabase } from "@tessera/test/harness";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTaskEventSource, type TaskEventMessage } from "../../gateway/graphql/src/events/task-events.ts";
import { createKvIdempotencyStore } from "../../gateway/rest/src/idempotency.ts";
import { AUDIT_CONSUMER } from "../../services/audit/src/events/consume-events.ts";
import { TENANT_CONSUMER } from "../../services/identity/src/events/consume-tenant-events.ts";
import { PROJECT_EVENT_TYPES } from "../../services/projects/src/events/publish-project-event.ts";
import { TASK_EVENT_TYPES } from "../../services/projects/src/events/publish-task-event.ts";
import { TENANT_EVENT_TYPES } from "../../services/tenancy/src/events/publish-tenant-event.ts";

/**
 * A real nats-server configured the way `./tessera up` configures it (users and permissions from
 * platform/src/events/permissions.ts), with each deployable's real NATS code running as its own
 * user: what each may publish, consume and subscribe to, and what the server refuses.
 */

const USERS = Object.keys(NATS_ACCESS) as NatsUser[];
const passwords: Record<string, string> = Object.fromEntries(
  // registered: the log scan fails the run if one shows up in any log
  [...USERS, NATS_ADMIN_USER].map((u) => [u, registerSecret(randomBytes(18).toString("base64url"))]),
);
const logs = captureLogs("nats-permissions");
const logger = createLogger({ service: "nats-permissions", destination: logs.stream, level: "warn" });

let nats: RunningNats;
/** The server's log lines about refused publishes and subscriptions. */
const violations: string[] = [];
let admin: NatsConnection;
let jsm: JetStreamManager;
const conns = {} as Record<NatsUser, NatsConnection>;
const databases: TestDatabase[] = [];
const orms: MikroORM[] = [];
const relays: OutboxRelay[] = [];
const consumers: RunningConsumer[] = [];
const publishers = ["tenancy", "identity", "projects"] as const;
const dbs = {} as Record<(typeof publishers)[number] | "audit", { url: string; orm: MikroORM }>;

const urlOf = (user: string) => natsUrlWithCredentials(nats.url, user, passwords[user] as string);

async function serviceDatabase(): Promise<{ url: string; orm: MikroORM }> {
  const db = await freshDatabase("np");
  databases.push(db);
  const client = new pg.Client({ connectionString: db.adminUrl });
  await client.connect();
  try {
    for (const statement of eventsMigrationSql()) await client.query(statement);
  } finally {
    await client.end();
  }
  const orm = await MikroORM.init({
    clientUrl: db.adminUrl,
    entities: [],
    discovery: { warnWhenNoEntities: false },
    allowGlobalContext: false,
    debug: false,
    pool: { min: 0, max: 4 },
  });
  orms.push(orm);
  return { url: db.adminUrl, orm };
}

/** Commits one event through a service's outbox (its relay, running as its NATS user, publishes it). */
function produce(service: keyof typeof dbs, tenant: string, type: string, payload?: ReturnType<typeof taskPayload>) {
  return runAsTenant(tenant, () =>
    (dbs[service].orm.em.fork() as ReturnType<MikroORM["em"]["fork"]>).transactional((em) =>
      payload
        ? enqueueEvent(em, { type, aggregateId: randomUUID(), schema: TaskEventSchema, payload })
        : enqueueEvent(em, {
            type,
            aggregateId: randomUUID(),
            schema: EchoRequestSchema,
            payload: create(EchoRequestSchema, { message: type }),
          }),
    ),
  );
}

function taskPayload(projectId: string) {
  return create(TaskEventSchema, { task: create(TaskSchema, { id: randomUUID(), projectId, title: "t" }) });
}

/** The stored message of the stream on exactly this subject, or undefined. */
async function stored(subject: string, stream = EVENTS_STREAM) {
  return (await jsm.streams.getMessage(stream, { last_by_subj: subject })) ?? undefined;
}

/** The permissions violation an error is, or is caused by (a refused request fails with a RequestError around it). */
function violation(err: unknown): PermissionViolationError | undefined {
  for (let e = err; e instanceof Error; e = e.cause) if (e instanceof PermissionViolationError) return e;
  return undefined;
}

async function until<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The permission errors the server reports on a connection, as they arrive. */
function permissionErrors(nc: NatsConnection): PermissionViolationError[] {
  const seen: PermissionViolationError[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error" && s.error instanceof PermissionViolationError) seen.push(s.error);
    }
  })();
  return seen;
}

beforeAll(async () => {
  nats = await startNats({
    storeDir: join(inject("runDir"), `nats-permissions-${randomBytes(4).toString("hex")}`),
    users: platformNatsUsers(passwords),
    onLog: (text) => violations.push(...text.split("\n").filter((l) => /Violation/.test(l))),
  });
  admin = await connectNats(urlOf(NATS_ADMIN_USER), "admin");
  jsm = await jetstreamManager(admin, { timeout: 5_000 });
  for (const user of USERS) conns[user] = await connectNats(urlOf(user), `np-${user}`);
  for (const service of [...publishers, "audit"] as const) dbs[service] = await serviceDatabase();
}, 120_000);

afterAll(async () => {
  for (const c of consumers) await c.stop();
  for (const r of relays) await r.stop();
  for (const nc of [...Object.values(conns), admin]) await nc?.close().catch(() => {});
  for (const orm of orms) await orm.close(true);
  for (const db of databases) await db.drop().catch(() => {});
  await nats?.stop();
});

describe("NATS users and permissions (./tessera up's config)", () => {
  it("keeps the declared access in step with the services' code", () => {
    const publishes = (user: NatsUser) => (NATS_ACCESS[user] as { publishes?: readonly string[] }).publishes ?? [];
    const aggregates = (types: readonly string[]) => [...new Set(types.map((t) => t.split(".")[0]))];
    expect(aggregates(TENANT_EVENT_TYPES)).toEqual(publishes("tenancy"));
    for (const a of aggregates([...PROJECT_EVENT_TYPES, ...TASK_EVENT_TYPES]))
      expect(publishes("projects")).toContain(a);
    expect(Object.keys(NATS_ACCESS.audit.consumes)).toEqual([AUDIT_CONSUMER]);
    expect(Object.keys(NATS_ACCESS.identity.consumes)).toEqual([TENANT_CONSUMER]);
    // the tenant resolvers of the REST edge and of projects' tenant database router
    expect(NATS_ACCESS.rest.subscribes).toContain(TENANT_EVENTS_SUBJECT);
    expect(NATS_ACCESS.projects.subscribes).toContain(TENANT_EVENTS_SUBJECT);
  });

  it("refuses a connection without credentials, and with another user's password", async () => {
    await expect(connect({ servers: nats.url, reconnect: false, timeout: 5_000 })).rejects.toThrow(/Authorization/i);
    await expect(
      connectNats(natsUrlWithCredentials(nats.url, "projects", passwords.tenancy as string), "x", {
        maxReconnectAttempts: 0,
      }),
    ).rejects.toThrow(/Authorization/i);
  });

  it("lets each service create the streams and publish its own events through its relay; consumers and subscribers get what they read", async () => {
    for (const service of publishers) {
      // every service process runs ensureStreams at start-up
      await ensureStreams(await jetstreamManager(conns[service], { timeout: 5_000 }));
      relays.push(
        startOutboxRelay({ pg: dbs[service].url, nats: conns[service], pollIntervalMs: 50, logger, maxBackoffMs: 200 }),
      );
    }
    // audit's durable as an earlier release left it (filter_subjects): updated in place, as audit may
    await jsm.consumers.add(EVENTS_STREAM, {
      durable_name: AUDIT_CONSUMER,
      filter_subjects: ["tessera.evt.>"],
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
    });
    const tenant = randomUUID();
    const projectId = randomUUID();
    const audited: string[] = [];
    const projected: string[] = [];
    consumers.push(
      startConsumer({
        nats: conns.audit,
        orm: dbs.audit.orm,
        durable: AUDIT_CONSUMER,
        filterSubjects: [NATS_ACCESS.audit.consumes.audit],
        handler: async (env) => void audited.push(`${env.tenantId}:${env.type}`),
        logger,
      }),
      startConsumer({
        nats: conns.identity,
        orm: dbs.identity.orm,
        durable: TENANT_CONSUMER,
        filterSubjects: [NATS_ACCESS.identity.consumes.identity_tenants],
        handler: async (env) => void projected.push(`${env.tenantId}:${env.type}`),
        logger,
      }),
    );
    // the GraphQL gateway's task subscription, and both edges' eviction subscriptions
    const stop = new AbortController();
    const taskEvents = await createTaskEventSource(conns.graphql, logger).subscribe(tenant, projectId, stop.signal);
    const live: TaskEventMessage[] = [];
    void (async () => {
      for await (const e of taskEvents) live.push(e);
    })();
    const evictions: Record<string, string[]> = { graphql: [], rest: [], projects: [] };
    for (const edge of ["graphql", "rest", "projects"] as const) {
      for (const subject of edge === "projects" ? [TENANT_EVENTS_SUBJECT] : NATS_ACCESS.rest.subscribes) {
        const sub = conns[edge].subscribe(subject, {
          callback: (_err, msg) => {
            evictions[edge]?.push(msg.subject);
          },
        });
        void sub.closed.then((err) => err && evictions[edge]?.push(`refused ${subject}`));
      }
      await conns[edge].flush();
    }

    await produce("tenancy", tenant, "tenant.created");
    await produce("identity", tenant, "api_key.created");
    await produce("projects", tenant, "task.created", taskPayload(projectId));

    for (const type of ["tenant.created", "api_key.created", "task.created"]) {
      const msg = await until(() => stored(`tessera.evt.${tenant}.${type}`));
      expect(msg.subject).toBe(`tessera.evt.${tenant}.${type}`);
    }
    await until(() => audited.length >= 3 && projected.length >= 1 && live.length >= 1);
    expect(audited.sort()).toEqual([`${tenant}:api_key.created`, `${tenant}:task.created`, `${tenant}:tenant.created`]);
    expect(projected).toEqual([`${tenant}:tenant.created`]);
    expect(live.map((e) => e.type)).toEqual(["CREATED"]);
    await until(() => (evictions.rest?.length ?? 0) >= 2 && (evictions.graphql?.length ?? 0) >= 2);
    for (const edge of ["graphql", "rest"])
      expect(evictions[edge]?.sort()).toEqual([
        `tessera.evt.${tenant}.api_key.created`,
        `tessera.evt.${tenant}.tenant.created`,
      ]);
    await until(() => (evictions.projects?.length ?? 0) >= 1);
    expect(evictions.projects).toEqual([`tessera.evt.${tenant}.tenant.created`]);
    stop.abort();
    // the real code of every deployable stayed within its permissions
    expect(violations).toEqual([]);
  });

  it("lets identity's consumer restart (updating its durable) and dead-letter to its own subject", async () => {
    await consumers.splice(1, 1)[0]?.stop();
    consumers.push(
      startConsumer({
        nats: conns.identity,
        orm: dbs.identity.orm,
        durable: TENANT_CONSUMER,
        filterSubjects: [NATS_ACCESS.identity.consumes.identity_tenants],
        handler: async () => {},
        logger,
      }),
    );
    const tenant = randomUUID();
    // a malformed message on a tenant subject (only the admin may publish it)
    await jetstream(admin).publish(`tessera.evt.${tenant}.tenant.updated`, new TextEncoder().encode("not an envelope"));
    // dead-lettering follows the consumer's bounded retries with backoff: slow on a loaded machine
    const dlq = await until(async () => {
      const m = await stored(deadLetterSubject(TENANT_CONSUMER), DLQ_STREAM);
      return m?.header.get("Tessera-Dlq-Subject") === `tessera.evt.${tenant}.tenant.updated` ? m : undefined;
    }, 50_000);
    expect(dlq.header.get("Tessera-Dlq-Consumer")).toBe(TENANT_CONSUMER);
    expect(violations).toEqual([]);
  }, 60_000);

  it("refuses projects publishing a tenant.* subject, and nothing is stored", async () => {
    const subject = `tessera.evt.${randomUUID()}.tenant.created`;
    const envelope = encodeEnvelope(
      buildEnvelope({
        type: "tenant.created",
        aggregateId: randomUUID(),
        tenantId: subject.split(".")[2] as string,
        schema: EchoRequestSchema,
        payload: create(EchoRequestSchema, { message: "forged" }),
      }),
    );
    const err = await jetstream(conns.projects, { timeout: 3_000 })
      .publish(subject, envelope, { expect: { streamName: EVENTS_STREAM } })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(violation(err), String(err)).toMatchObject({ operation: "publish", subject });
    expect(await stored(subject)).toBeUndefined();
  });

  it("refuses a gateway publishing anything (the REST edge: anything but its KV bucket)", async () => {
    for (const edge of ["graphql", "rest"] as const) {
      const refused = permissionErrors(conns[edge]);
      const tenant = randomUUID();
      const subjects = [`tessera.evt.${tenant}.task.created`, `tessera.evt.${tenant}.tenant.suspended`, "anything"];
      subjects.push(edge === "graphql" ? "$JS.API.INFO" : "$KV.other_bucket.key");
      for (const subject of subjects) conns[edge].publish(subject, "x");
      await conns[edge].flush();
      await until(() => refused.length >= subjects.length);
      expect(refused.map((e) => [e.operation, e.subject])).toEqual(subjects.map((s) => ["publish", s]));
      expect(await stored(subjects[0] as string)).toBeUndefined();
    }
  });

  it("refuses identity subscribing to or consuming what it does not consume, and reading another's inbox or durable", async () => {
    for (const subject of ["tessera.evt.*.project.>", "tessera.evt.>", "_INBOX.audit.>", "tessera.dlq.>"]) {
      const sub = conns.identity.subscribe(subject);
      expect(await sub.closed, subject).toMatchObject({ name: "PermissionViolationError", operation: "subscription" });
    }
    const identityJsm = await jetstreamManager(conns.identity, { timeout: 3_000 });
    for (const call of [
      () => identityJsm.consumers.info(EVENTS_STREAM, AUDIT_CONSUMER),
      () => identityJsm.consumers.delete(EVENTS_STREAM, AUDIT_CONSUMER),
      () => identityJsm.streams.delete(EVENTS_STREAM),
      () => identityJsm.streams.purge(EVENTS_STREAM),
      // its own durable cannot be widened to more than tenant events, nor another made
      () => identityJsm.consumers.update(EVENTS_STREAM, TENANT_CONSUMER, { filter_subject: "tessera.evt.>" }),
      () => identityJsm.consumers.update(EVENTS_STREAM, TENANT_CONSUMER, { filter_subjects: ["tessera.evt.>"] }),
      () =>
        identityJsm.consumers.add(EVENTS_STREAM, {
          durable_name: "identity_all",
          filter_subject: "tessera.evt.>",
          ack_policy: AckPolicy.Explicit,
        }),
    ]) {
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(violation(err), String(err)).toMatchObject({ operation: "publish" });
    }
    const rest = conns.rest.subscribe(`tessera.evt.*.task.>`);
    expect(await rest.closed).toBeInstanceOf(PermissionViolationError);
  });

  it("lets the REST edge keep idempotency records in its own KV bucket, and no other", async () => {
    const before = violations.length;
    const bucket = NATS_ACCESS.rest.kvBuckets[0];
    const store = await createKvIdempotencyStore(conns.rest, { bucket, ttlMs: 86_400_000, lockMs: 60_000 });
    const scope = `${randomUUID()}.key`;
    const first = await store.begin(scope, "fp");
    if (first.kind !== "proceed") throw new Error(`expected proceed, got ${first.kind}`);
    await first.lease.complete({ status: 201, headers: {}, body: "{}" });
    expect((await store.begin(scope, "fp")).kind).toBe("replay");
    expect((await store.begin(scope, "other")).kind).toBe("mismatch");
    const abandoned = await store.begin(`${randomUUID()}.key`, "fp");
    if (abandoned.kind !== "proceed") throw new Error(`expected proceed, got ${abandoned.kind}`);
    await abandoned.lease.abandon();
    // a second replica opens the same bucket
    await createKvIdempotencyStore(conns.rest, { bucket, ttlMs: 86_400_000, lockMs: 60_000 });
    expect(violations.slice(before)).toEqual([]);
    const err = await createKvIdempotencyStore(conns.rest, {
      bucket: "other_bucket",
      ttlMs: 86_400_000,
      lockMs: 60_000,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(violation(err), String(err)).toMatchObject({ operation: "publish" });
  });
});
