/** Table of events waiting to be published (one per publishing service database). */
export const OUTBOX_TABLE = "tessera_outbox";
/** Table of events each consumer has already handled (its idempotency record). */
export const CONSUMED_TABLE = "tessera_consumed";

/** Roles the events tables grant to; omit both for a database used by one superuser (tests, dev). */
export interface EventsSchemaOptions {
  /**
   * The services' runtime role (no BYPASSRLS). It may only INSERT outbox rows for the tenant its
   * transaction is set to (`app.tenant_id`), and read/write its own tenant's consumed records.
   */
  appRole?: string;
  /**
   * The role the outbox relay connects as. It may read, update and delete every tenant's outbox
   * rows and nothing else. May be the database owner (row-level security is forced on the owner).
   */
  relayRole?: string;
}

const ROLE = /^[a-z_][a-z0-9_]{0,62}$/;
const TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid";

function role(value: string | undefined, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (!ROLE.test(value) || value.startsWith("pg_")) {
    throw new TypeError(`${what} must be a lower-case identifier ([a-z_][a-z0-9_]*, at most 63 characters)`);
  }
  return `"${value}"`;
}

/**
 * Statements creating the transactional outbox, idempotent (safe to run again). With `appRole`,
 * row-level security is enabled and forced: the app role can only insert rows of its current
 * tenant and can read none (so one tenant never sees another's pending events); with `relayRole`,
 * that role gets a policy over all rows. Run them as the table owner, in a migration.
 */
export function outboxMigrationSql(options: EventsSchemaOptions = {}): string[] {
  const app = role(options.appRole, "appRole");
  const relay = role(options.relayRole, "relayRole");
  const statements = [
    `create table if not exists ${OUTBOX_TABLE} (
  seq bigint generated always as identity,
  id uuid primary key,
  tenant_id uuid not null,
  subject text not null check (length(subject) between 1 and 255),
  envelope bytea not null,
  created_at timestamptz not null default now(),
  attempts integer not null default 0,
  last_error text
)`,
    `create unique index if not exists ${OUTBOX_TABLE}_seq_idx on ${OUTBOX_TABLE} (seq)`,
    `create index if not exists ${OUTBOX_TABLE}_tenant_seq_idx on ${OUTBOX_TABLE} (tenant_id, seq)`,
  ];
  if (app || relay) {
    statements.push(
      `alter table ${OUTBOX_TABLE} enable row level security`,
      `alter table ${OUTBOX_TABLE} force row level security`,
    );
  }
  if (app) {
    statements.push(
      `drop policy if exists ${OUTBOX_TABLE}_enqueue on ${OUTBOX_TABLE}`,
      `create policy ${OUTBOX_TABLE}_enqueue on ${OUTBOX_TABLE} for insert to ${app} with check (tenant_id = ${TENANT})`,
      `grant insert on ${OUTBOX_TABLE} to ${app}`,
    );
  }
  if (relay) {
    statements.push(
      `drop policy if exists ${OUTBOX_TABLE}_relay on ${OUTBOX_TABLE}`,
      `create policy ${OUTBOX_TABLE}_relay on ${OUTBOX_TABLE} for all to ${relay} using (true) with check (true)`,
      `grant select, update, delete on ${OUTBOX_TABLE} to ${relay}`,
    );
  }
  return statements;
}

/**
 * Statements creating the consumers' idempotency record, idempotent. With `appRole`, row-level
 * security limits the app role to its current tenant's records (a consumer transaction sets
 * `app.tenant_id` to the event's tenant).
 */
export function consumedMigrationSql(options: Pick<EventsSchemaOptions, "appRole"> = {}): string[] {
  const app = role(options.appRole, "appRole");
  const statements = [
    `create table if not exists ${CONSUMED_TABLE} (
  consumer text not null,
  event_id uuid not null,
  tenant_id uuid not null,
  consumed_at timestamptz not null default now(),
  primary key (consumer, event_id)
)`,
    `create index if not exists ${CONSUMED_TABLE}_consumed_at_idx on ${CONSUMED_TABLE} (consumed_at)`,
  ];
  if (app) {
    statements.push(
      `alter table ${CONSUMED_TABLE} enable row level security`,
      `alter table ${CONSUMED_TABLE} force row level security`,
      `drop policy if exists ${CONSUMED_TABLE}_tenant on ${CONSUMED_TABLE}`,
      `create policy ${CONSUMED_TABLE}_tenant on ${CONSUMED_TABLE} for all to ${app} using (tenant_id = ${TENANT}) with check (tenant_id = ${TENANT})`,
      `grant select, insert, delete on ${CONSUMED_TABLE} to ${app}`,
    );
  }
  return statements;
}

/** Both tables' statements, outbox first: what a service that publishes and consumes runs. */
export function eventsMigrationSql(options: EventsSchemaOptions = {}): string[] {
  return [...outboxMigrationSql(options), ...consumedMigrationSql(options)];
}
