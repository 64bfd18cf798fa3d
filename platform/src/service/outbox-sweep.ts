import pg from "pg";
import type { ServerUrls, TenantRouter } from "../db/index.ts";
import { OUTBOX_TABLE } from "../events/schema.ts";
import type { Logger } from "../log/index.ts";

const KEY = /_(t_[0-9a-f]{32})$/;

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 10_000,
    statement_timeout: 10_000,
    query_timeout: 15_000,
    application_name: "tessera-outbox-sweep",
  });
  client.on("error", () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * Finds the dedicated databases of this service on every server whose outbox holds events (left by
 * a process that stopped before publishing them) and opens them through the router, so their relay
 * publishes the events; the router closes them again once idle. Run at start-up and periodically.
 * Returns the references opened.
 */
export async function sweepDedicatedOutboxes(
  router: TenantRouter,
  servers: Readonly<Record<string, ServerUrls>>,
  log: Logger,
): Promise<string[]> {
  const opened: string[] = [];
  for (const [server, urls] of Object.entries(servers)) {
    const base = decodeURIComponent(new URL(urls.owner).pathname.slice(1));
    let names: string[];
    try {
      names = await withClient(urls.owner, async (c) =>
        (
          await c.query<{ datname: string }>(
            "select datname from pg_database where datname like $1 and has_database_privilege(datname, 'CONNECT')",
            [`${base.replaceAll("_", "\\_")}\\_t\\_%`],
          )
        ).rows.map((r) => r.datname),
      );
    } catch (err) {
      log.warn({ server, err_message: (err as Error).message }, "outbox sweep could not list the server's databases");
      continue;
    }
    for (const name of names) {
      const key = KEY.exec(name)?.[1];
      if (!key) continue;
      try {
        const pending = await withClient(withDatabase(urls.owner, name), async (c) => {
          const exists = await c.query("select to_regclass($1) is not null as found", [OUTBOX_TABLE]);
          if (!exists.rows[0]?.found) return false;
          return (await c.query(`select 1 from ${OUTBOX_TABLE} limit 1`)).rowCount === 1;
        });
        if (!pending) continue;
        const ref = `${server}/${key}`;
        await router.withDatabase(ref, async () => {});
        opened.push(ref);
      } catch (err) {
        log.warn({ database: name, err_message: (err as Error).message }, "outbox sweep could not check a database");
      }
    }
  }
  if (opened.length > 0) log.info({ databases: opened }, "opened dedicated databases with unpublished events");
  return opened;
}

/** Waits (at most `timeoutMs`) until a database's outbox is empty, so closing its relay loses no time. */
export async function drainOutbox(owner: pg.Pool, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rowCount } = await owner.query(`select 1 from ${OUTBOX_TABLE} limit 1`);
    if (rowCount === 0) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}
