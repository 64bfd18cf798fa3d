import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { MikroORM } from "@mikro-orm/postgresql";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Context, type ContextManager, context, ROOT_CONTEXT } from "@opentelemetry/api";
import { type RunningNats, startNats } from "@tessera/dev/infra";
import { connectNats, ensureStreams, eventsMigrationSql } from "@tessera/platform/events";
import { createLogger, type Logger } from "@tessera/platform/log";
import { EchoRequestSchema } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { type CapturedLogs, captureLogs, freshDatabase, type TestDatabase } from "@tessera/test/harness";
import pg from "pg";
import { inject } from "vitest";

/** The payload schema the tests publish (any proto message does). */
export const Payload = EchoRequestSchema;
export const payload = (message: string) => create(EchoRequestSchema, { message });

/** A dedicated database and nats-server for one test file, with the events tables and streams. */
export interface EventsRig {
  db: TestDatabase;
  orm: MikroORM;
  nats: RunningNats;
  /** Clients made with connectNats (reconnect forever); closed by close(). */
  connect(name: string): Promise<NatsConnection>;
  jsm: JetStreamManager;
  logs: CapturedLogs;
  logger: Logger;
  /** Runs SQL as the superuser on the test database. */
  sql<R extends pg.QueryResultRow>(text: string, params?: unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

/** Runs one statement on a short-lived client with deadlines. */
export async function query<R extends pg.QueryResultRow>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, statement_timeout: 10_000 });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** Starts the rig; `extraSql` creates the test's own tables. */
export async function startRig(name: string, extraSql: string[] = []): Promise<EventsRig> {
  const db = await freshDatabase("ev");
  for (const statement of [...eventsMigrationSql(), ...extraSql]) await query(db.adminUrl, statement);
  const nats = await startNats({ storeDir: join(inject("runDir"), `nats-${name}-${randomBytes(4).toString("hex")}`) });
  const clients: NatsConnection[] = [];
  const connect = async (client: string) => {
    const nc = await connectNats(nats.url, client);
    clients.push(nc);
    return nc;
  };
  const admin = await connect(`${name}-admin`);
  const jsm = await jetstreamManager(admin, { timeout: 5_000 });
  await ensureStreams(jsm);
  const orm = await MikroORM.init({
    clientUrl: db.adminUrl,
    entities: [],
    discovery: { warnWhenNoEntities: false },
    allowGlobalContext: false,
    debug: false,
    pool: { min: 0, max: 8 },
    driverOptions: { connectionTimeoutMillis: 10_000, statement_timeout: 10_000, query_timeout: 15_000 },
  });
  const logs = captureLogs(`events-${name}`);
  const logger = createLogger({ service: `events-${name}`, destination: logs.stream, level: "debug" });
  return {
    db,
    orm,
    nats,
    connect,
    jsm,
    logs,
    logger,
    sql: (text, params) => query(db.adminUrl, text, params),
    async close() {
      for (const nc of clients) await nc.close().catch(() => {});
      await nats.stop();
      await orm.close(true);
      await db.drop();
    },
  };
}

/**
 * An AsyncLocalStorage context manager, as the telemetry SDK registers in services, so
 * `context.with` reaches across awaits in these tests.
 */
class AlsContextManager implements ContextManager {
  readonly #storage = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.#storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.#storage.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#storage.disable();
    return this;
  }
}

/** Installs the context manager for this test file (idempotent). */
export function installContextManager(): void {
  context.setGlobalContextManager(new AlsContextManager());
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns the last result. */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 100,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
