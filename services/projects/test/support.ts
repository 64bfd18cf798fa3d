import { randomUUID } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { type CallOptions, type Client, Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { createTokenVerifier } from "@tessera/platform/auth";
import type { TestIssuer } from "@tessera/platform/auth/testing";
import { createDb } from "@tessera/platform/db";
import { connectNats, ensureStreams, startOutboxRelay } from "@tessera/platform/events";
import { createLogger } from "@tessera/platform/log";
import { type QuotaSource, UNLIMITED } from "@tessera/platform/plans";
import type { RpcServer } from "@tessera/platform/rpc-server";
import { EventEnvelopeSchema } from "@tessera/proto/tessera/common/v1/event_pb";
import {
  CommentEventSchema,
  ProjectEventSchema,
  ProjectService,
  TaskEventSchema,
  TaskService,
} from "@tessera/proto/tessera/projects/v1/projects_pb";
import { as, captureLogs, failure, fieldsOf, type ServiceTestEnv, serviceTestEnv } from "@tessera/test/harness";
import { inject } from "vitest";
import { migrations } from "../migrations/index.ts";
import { configSchema } from "../src/config.ts";
import { entities } from "../src/domain/entities.ts";
import { build, SERVICE } from "../src/server.ts";

/** A migrated database and a token issuer (see serviceTestEnv). */
export type ProjectsEnv = ServiceTestEnv;

/** A fresh database (migrated in this process unless `migrate` is false) and a test issuer. */
export function projectsEnv(prefix: string, { migrate = true } = {}): Promise<ProjectsEnv> {
  return serviceTestEnv({ prefix, entities, migrations, migrate });
}

/** The environment the service needs, for configSchema or a child process. */
export function serviceVars(env: ProjectsEnv, extra: Record<string, string> = {}): Record<string, string> {
  return env.vars(extra);
}

/** projects running in this process (build + listen) with the outbox relay, on real PostgreSQL and NATS. */
export interface InProcess {
  server: RpcServer;
  url: string;
  nats: NatsConnection;
  projects: Client<typeof ProjectService>;
  tasks: Client<typeof TaskService>;
  stop(): Promise<void>;
}

/** A plan without limits: what in-process tests run on unless they test quotas. */
export const NO_LIMITS: QuotaSource = async () => ({
  id: "no-limits",
  quotas: {
    requestsPerMinute: UNLIMITED,
    seats: UNLIMITED,
    projects: UNLIMITED,
    storageBytes: UNLIMITED,
    auditRetentionDays: UNLIMITED,
    extensionCpuMsPerDay: UNLIMITED,
  },
});

/** Starts projects in-process; every tenant's plan comes from `quotaOf` (default: no limits). */
export async function startInProcess(
  env: ProjectsEnv,
  logName: string,
  quotaOf: QuotaSource = NO_LIMITS,
): Promise<InProcess> {
  const config = configSchema.parse(serviceVars(env));
  const logger = createLogger({ service: SERVICE, level: "info", destination: captureLogs(logName).stream });
  const db = await createDb({ url: env.db.appUrl, entities, logger, poolMax: 4 });
  const nats = await connectNats(inject("natsUrl"), "projects-test");
  await ensureStreams(await jetstreamManager(nats, { timeout: 5_000 }));
  const relay = startOutboxRelay({ pg: env.db.ownerUrl, nats, logger, pollIntervalMs: 50 });
  const server = build({
    orm: db.orm,
    verifier: createTokenVerifier({ jwksUrl: env.issuer.jwksUrl, issuer: env.issuer.issuer, audience: SERVICE }),
    logger,
    config,
    quotaOf,
    shutdownHooks: [() => relay.stop(), () => db.close()],
  });
  const { url } = await server.listen();
  const transport = createGrpcTransport({ baseUrl: url });
  return {
    server,
    url,
    nats,
    projects: createClient(ProjectService, transport),
    tasks: createClient(TaskService, transport),
    async stop() {
      await server.shutdown("test over");
      await nats.drain();
    },
  };
}

/** A tenant role of identity's tokens. */
export type Role = "owner" | "admin" | "member" | "viewer";

/** A caller: the call options carrying its token (with a deadline), and its subject. */
export interface Caller {
  opts: CallOptions;
  sub: string;
}

/** Mints callers of one tenant (a fresh tenant id unless given). */
export function tenant(issuer: TestIssuer, tid: string = randomUUID()) {
  return {
    tid,
    async user(role: Role = "member", sub: string = randomUUID()): Promise<Caller> {
      return { opts: as(await issuer.mint({ aud: SERVICE, sub, kind: "user", tid, roles: [role] })), sub };
    },
    async apiKey(role: Role, scopes: string[], sub: string = randomUUID()): Promise<Caller> {
      return { opts: as(await issuer.mint({ aud: SERVICE, sub, kind: "api_key", tid, roles: [role], scopes })), sub };
    },
  };
}

let seq = 0;
/** A project key no other test uses in the same tenant ("P" + letters/digits). */
export function newKey(): string {
  seq += 1;
  return `P${seq.toString(36).toUpperCase()}${randomUUID()
    .slice(0, 4)
    .replace(/[^0-9a-f]/g, "0")
    .toUpperCase()}`;
}

/** A received project, task or comment event. */
export interface ReceivedEvent {
  type: string;
  tenantId: string;
  actor: string;
  aggregateId: string;
  /** The entity the payload carries (project, task or comment id), or "". */
  entityId: string;
  changedFields: string[];
  payload: unknown;
}

function decode(
  type: string,
  value: NonNullable<ReturnType<typeof fromBinary<typeof EventEnvelopeSchema>>["payload"]>,
) {
  if (type.startsWith("project.")) {
    const p = anyUnpack(value, ProjectEventSchema);
    return { entityId: p?.project?.id ?? "", changedFields: [], payload: p };
  }
  if (type.startsWith("task.")) {
    const t = anyUnpack(value, TaskEventSchema);
    return { entityId: t?.task?.id ?? "", changedFields: [...(t?.changedFields ?? [])], payload: t };
  }
  const c = anyUnpack(value, CommentEventSchema);
  return { entityId: c?.comment?.id ?? "", changedFields: [], payload: c };
}

/** Collects project, task and comment events of every tenant from NATS (core subscription). */
export function collectEvents(nats: NatsConnection) {
  const events: ReceivedEvent[] = [];
  const subs = ["project", "task", "comment"].map((aggregate) =>
    nats.subscribe(`tessera.evt.*.${aggregate}.*`, {
      callback: (err, msg) => {
        if (err) return;
        const envelope = fromBinary(EventEnvelopeSchema, msg.data);
        if (!envelope.payload) return;
        events.push({
          type: envelope.type,
          tenantId: envelope.tenantId,
          actor: envelope.actor?.id ?? "",
          aggregateId: envelope.aggregateId,
          ...decode(envelope.type, envelope.payload),
        });
      },
    }),
  );
  return {
    events,
    of: (tenantId: string) => events.filter((e) => e.tenantId === tenantId),
    /** Waits (bounded) until `done` holds for the tenant's events, then returns them. */
    async waitFor(
      tenantId: string,
      done: (mine: ReceivedEvent[]) => boolean,
      timeoutMs = 10_000,
    ): Promise<ReceivedEvent[]> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const mine = events.filter((e) => e.tenantId === tenantId);
        if (done(mine)) return mine;
        if (Date.now() > deadline) {
          throw new Error(`events of ${tenantId} never matched; got ${mine.map((e) => e.type).join(", ") || "none"}`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    close: () => {
      for (const s of subs) s.unsubscribe();
    },
  };
}

export { as, Code, failure, fieldsOf };
