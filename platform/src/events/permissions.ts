import { DLQ_STREAM, DLQ_SUBJECT_PREFIX, EVENT_SUBJECT_PREFIX, EVENTS_STREAM } from "./subjects.ts";

/**
 * What one deployable does on NATS. This is the single definition its NATS user's permissions are
 * derived from ({@link natsPermissions}), by `./tessera up` (the local nats-server's config) and by
 * the platform chart (its generated `files/nats-permissions.json`, kept in sync by a test).
 */
export interface NatsAccess {
  /** Aggregates whose events it publishes through its outbox relay: `tessera.evt.*.<aggregate>.*`. */
  publishes?: readonly string[];
  /** Its durable consumers on `TESSERA_EVENTS`: durable name → the one subject (filter) it consumes. */
  consumes?: Readonly<Record<string, string>>;
  /** Subjects it subscribes to directly (core NATS, no JetStream), e.g. cache evictions. */
  subscribes?: readonly string[];
  /** JetStream key-value buckets it creates and uses. */
  kvBuckets?: readonly string[];
  /** Creates or updates the event streams at start-up (every `runService` process: `ensureStreams`). */
  ensuresStreams?: boolean;
}

/** What a tenant resolver evicts cached placements on (tenancy-client's TENANT_EVENTS_SUBJECT). */
const TENANT_EVICTIONS = `${EVENT_SUBJECT_PREFIX}.*.tenant.>`;
/** What an edge's token exchanger evicts cached tokens on: identity's keys and memberships, tenancy's tenants. */
const EVICTIONS = [
  `${EVENT_SUBJECT_PREFIX}.*.api_key.>`,
  `${EVENT_SUBJECT_PREFIX}.*.membership.>`,
  TENANT_EVICTIONS,
] as const;

/**
 * Every deployable's NATS access, by deployable name (= its NATS user, its `SERVICE_NAME`, its
 * folder under services/ or gateway/). A deployable missing here gets no NATS credential.
 */
export const NATS_ACCESS = {
  tenancy: { publishes: ["tenant"], ensuresStreams: true },
  identity: {
    publishes: [
      "user",
      "refresh_token",
      "membership",
      "invitation",
      "api_key",
      "signing_key",
      "scim",
      "scim_user",
      "scim_group",
    ],
    consumes: { identity_tenants: `${EVENT_SUBJECT_PREFIX}.*.tenant.*` },
    // single sign-on's tenant directory (TENANCY_URL) evicts its cached domains and slugs on them
    subscribes: [TENANT_EVICTIONS],
    ensuresStreams: true,
  },
  projects: { publishes: ["project", "task", "comment"], subscribes: [TENANT_EVICTIONS], ensuresStreams: true },
  // its own bucket of signed chain heads and checkpoints (written by audit only)
  audit: { consumes: { audit: `${EVENT_SUBJECT_PREFIX}.>` }, kvBuckets: ["audit_heads"], ensuresStreams: true },
  graphql: { subscribes: [`${EVENT_SUBJECT_PREFIX}.*.task.>`, ...EVICTIONS] },
  rest: { subscribes: [...EVICTIONS], kvBuckets: ["rest_idempotency"] },
} as const satisfies Record<string, NatsAccess>;

/** A deployable with NATS access. */
export type NatsUser = keyof typeof NATS_ACCESS;

/** The user tools and tests may connect as with every permission; never given to a deployable. */
export const NATS_ADMIN_USER = "tessera-admin";

/** A user's permissions in nats-server's syntax (`authorization { users = [{ ..., permissions }] }`). */
export interface NatsServerPermissions {
  publish: { allow: string[] } | { deny: string[] };
  subscribe: { allow: string[] } | { deny: string[] };
}

/**
 * The inbox prefix of a user's connections (`natsConnectOptions` sets it when the URL names a
 * user): replies to its own requests (JetStream API answers, publish acks, pulled messages) arrive
 * under it, so its subscribe permission covers its own inboxes and nobody else's.
 */
export function inboxPrefix(user: string): string {
  if (!isNatsUserName(user)) throw new TypeError("a NATS user name must match [A-Za-z0-9_-]{1,64}");
  return `_INBOX.${user}`;
}

/** True when `name` can name a NATS user here: one subject token of `[A-Za-z0-9_-]`. */
export function isNatsUserName(name: string): boolean {
  return /^[A-Za-z0-9_-]{1,64}$/.test(name);
}

const API = "$JS.API";

/**
 * The nats-server permissions of one deployable, as tight as its code works with: publish only its
 * own event subjects (with acks to its inbox), the JetStream API calls of its own streams, durable
 * consumers and buckets, acks and dead letters of its own durables; subscribe only to its inbox and
 * the subjects it reads directly. A deployable that publishes nothing is denied every publish.
 */
export function natsPermissions(user: string, access: NatsAccess): NatsServerPermissions {
  const publish: string[] = [];
  const subscribe: string[] = [];
  const consumes = Object.entries(access.consumes ?? {});
  const kvBuckets = access.kvBuckets ?? [];
  const jetStream = access.ensuresStreams || (access.publishes ?? []).length > 0 || consumes.length > 0;
  if (jetStream || kvBuckets.length > 0) {
    // jetstreamManager() checks the API is there first
    publish.push(`${API}.INFO`);
    subscribe.push(`${inboxPrefix(user)}.>`);
  }
  if (access.ensuresStreams) {
    for (const stream of [EVENTS_STREAM, DLQ_STREAM])
      for (const op of ["INFO", "CREATE", "UPDATE"]) publish.push(`${API}.STREAM.${op}.${stream}`);
  }
  for (const aggregate of access.publishes ?? []) publish.push(`${EVENT_SUBJECT_PREFIX}.*.${aggregate}.*`);
  for (const [durable, filter] of consumes) {
    publish.push(
      `${API}.CONSUMER.INFO.${EVENTS_STREAM}.${durable}`,
      // the create/update request's subject carries the filter (startConsumer with one subject):
      // the durable can be created with this filter (or a narrower one) only
      `${API}.CONSUMER.CREATE.${EVENTS_STREAM}.${durable}.${filter}`,
      `${API}.CONSUMER.MSG.NEXT.${EVENTS_STREAM}.${durable}`,
      `$JS.ACK.${EVENTS_STREAM}.${durable}.>`,
      `${DLQ_SUBJECT_PREFIX}.${durable}`,
    );
  }
  for (const bucket of kvBuckets) {
    const stream = `KV_${bucket}`;
    // the KV client creates its bucket's stream when missing (never updates it), reads with direct gets, writes to $KV
    publish.push(
      `${API}.STREAM.INFO.${stream}`,
      `${API}.STREAM.CREATE.${stream}`,
      `${API}.DIRECT.GET.${stream}.>`,
      `$KV.${bucket}.>`,
    );
  }
  subscribe.push(...(access.subscribes ?? []));
  return {
    publish: publish.length > 0 ? { allow: publish } : { deny: [">"] },
    subscribe: subscribe.length > 0 ? { allow: subscribe } : { deny: [">"] },
  };
}

/** Every deployable's permissions, by NATS user. */
export function natsUserPermissions(): Record<NatsUser, NatsServerPermissions> {
  return Object.fromEntries(
    Object.entries(NATS_ACCESS).map(([user, access]) => [user, natsPermissions(user, access)]),
  ) as Record<NatsUser, NatsServerPermissions>;
}

/** True when `name` is a deployable with NATS access. */
export function isNatsUser(name: string): name is NatsUser {
  return Object.hasOwn(NATS_ACCESS, name);
}
