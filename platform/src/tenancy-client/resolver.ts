import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { EventEnvelopeSchema } from "@tessera/proto/tessera/common/v1/event_pb";
import {
  type ResolveTenantRequest,
  type Tenant,
  TenantEventSchema,
  TenantService,
  TenantStatus,
} from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { FailedPrecondition, NotFound } from "../errors/index.ts";
import { type Logger, rootLogger } from "../log/index.ts";
import { closeServiceClient, createServiceClient } from "../rpc-client/index.ts";
import { ExpiringLru } from "./lru.ts";

/** Subject of every tenant event of every tenant. */
export const TENANT_EVENTS_SUBJECT = "tessera.evt.*.tenant.>";

/** Options of {@link createTenantResolver}. */
export interface TenantResolverOptions {
  /** tenancy's URL (`http://host:port`); or pass `client`. */
  readonly baseUrl?: string;
  /** A TenantService client (e.g. made with createServiceClient); the resolver then does not own it. */
  readonly client?: Client<typeof TenantService>;
  /**
   * Where tenant events are heard (`tessera.evt.*.tenant.>`, a plain subscription): each one evicts
   * the cached answers about its tenant, so a suspension is refused at once rather than after the
   * answer's lifetime. Without it only that lifetime bounds how stale an answer gets.
   */
  readonly nats?: NatsConnection;
  /**
   * The caller's own internal token for tenancy (audience `tenancy`, role `service`): an edge has no
   * request token yet when it resolves. Default: the token of the current request context.
   */
  readonly token?: () => string | Promise<string>;
  /** Answers held at most; least recently used go first. Default 10 000. */
  readonly maxEntries?: number;
  /** How long "no such tenant" is remembered. Default 5 000 ms. */
  readonly negativeTtlMs?: number;
  /** Cap on the lifetime tenancy grants an answer (`cache_ttl_seconds`). Default 300 000 ms. */
  readonly maxTtlMs?: number;
  /** Deadline of one ResolveTenant call. Default 2 000 ms. */
  readonly timeoutMs?: number;
  readonly logger?: Logger;
  /** Clock, for tests. */
  readonly now?: () => number;
}

/** Counters, to see the cache work (tests, metrics). */
export interface ResolverStats {
  /** ResolveTenant calls made. */
  readonly rpcs: number;
  /** Lookups answered from the cache. */
  readonly hits: number;
  /** Tenant events that evicted entries. */
  readonly evictions: number;
}

/**
 * Finds tenants for edges and services, cheaply enough to do on every request: answers of
 * tenancy's ResolveTenant are cached (bounded, each for the lifetime tenancy grants it, "unknown"
 * briefly), tenant events evict them, and a NATS reconnect (events may have been missed) clears
 * the cache.
 */
export interface TenantResolver {
  /**
   * The tenant with this id, whatever its status; undefined when there is none (or the key cannot
   * name one). Other failures (tenancy unreachable: UNAVAILABLE, DEADLINE_EXCEEDED) are thrown as
   * ConnectErrors: callers should refuse the request rather than let it through.
   */
  byId(tenantId: string): Promise<Tenant | undefined>;
  bySlug(slug: string): Promise<Tenant | undefined>;
  /** The tenant that verified the domain of this email address (or bare domain). */
  byEmailDomain(emailOrDomain: string): Promise<Tenant | undefined>;
  /**
   * The tenant, if it may be served: NotFound for an unknown tenant, FailedPrecondition for one
   * that is not ACTIVE (provisioning, suspended, offboarding, deleted). Call it on every request.
   */
  requireActive(tenantId: string): Promise<Tenant>;
  /** Forgets everything cached about a tenant. */
  invalidate(tenantId: string): void;
  stats(): ResolverStats;
  /** Stops listening for events (and closes the client the resolver made). */
  close(): Promise<void>;
}

type Entry = { tenant: Tenant | undefined };

const STATUS_NAMES: Partial<Record<TenantStatus, string>> = {
  [TenantStatus.PROVISIONING]: "provisioning",
  [TenantStatus.SUSPENDED]: "suspended",
  [TenantStatus.OFFBOARDING]: "offboarding",
  [TenantStatus.DELETED]: "deleted",
};

function domainOf(emailOrDomain: string): string {
  const at = emailOrDomain.lastIndexOf("@");
  return (at >= 0 ? emailOrDomain.slice(at + 1) : emailOrDomain).trim().toLowerCase().replace(/\.$/, "");
}

/** Creates a {@link TenantResolver}. */
export function createTenantResolver(options: TenantResolverOptions): TenantResolver {
  const log = (options.logger ?? rootLogger()).child({ component: "tenant-resolver" });
  const timeoutMs = options.timeoutMs ?? 2_000;
  const ownClient = options.client === undefined;
  let client: Client<typeof TenantService>;
  if (options.client) client = options.client;
  else if (options.baseUrl)
    client = createServiceClient(TenantService, { baseUrl: options.baseUrl, defaultTimeoutMs: timeoutMs });
  else throw new Error("createTenantResolver needs baseUrl or client");
  const negativeTtlMs = options.negativeTtlMs ?? 5_000;
  const maxTtlMs = options.maxTtlMs ?? 300_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const cache = new ExpiringLru<string, Entry>(maxEntries, options.now);
  /** Cache keys per tenant id, to evict every way of naming a tenant at once. */
  const keysOf = new Map<string, Set<string>>();
  const negatives = new Set<string>();
  const inFlight = new Map<string, { epoch: number; answer: Promise<Tenant | undefined> }>();
  // Bumped by every eviction. An answer about a tenant evicted after its request started is
  // returned but not cached (it may predate the event); only kept while requests are in flight.
  let epoch = 0;
  let clearedAt = 0;
  const evictedAt = new Map<string, number>();
  let rpcs = 0;
  let hits = 0;
  let evictions = 0;

  /** Drops bookkeeping of entries the cache itself has dropped, so both indexes stay bounded too. */
  function prune(): void {
    for (const [id, keys] of keysOf) {
      if (!cache.has(`id:${id}`)) keysOf.delete(id);
      else for (const key of keys) if (!cache.has(key)) keys.delete(key);
    }
    for (const key of negatives) if (!cache.has(key)) negatives.delete(key);
  }

  function remember(key: string, entry: Entry, ttlMs: number): void {
    if (keysOf.size + negatives.size > 2 * maxEntries) prune();
    cache.set(key, entry, ttlMs);
    if (entry.tenant) {
      const id = entry.tenant.id;
      let keys = keysOf.get(id);
      if (!keys) {
        keys = new Set();
        keysOf.set(id, keys);
      }
      keys.add(key);
      keys.add(`id:${id}`);
      cache.set(`id:${id}`, entry, ttlMs);
    } else negatives.add(key);
  }

  function evict(tenantId: string, alsoKeys: readonly string[] = []): void {
    epoch++;
    const id = tenantId.toLowerCase();
    if (inFlight.size > 0) evictedAt.set(id, epoch);
    for (const key of [...(keysOf.get(id) ?? []), `id:${id}`, ...alsoKeys]) cache.delete(key);
    keysOf.delete(id);
    // a new or renamed tenant may be what an "unknown" answer was about
    for (const key of negatives) cache.delete(key);
    negatives.clear();
  }

  async function fetch(key: string, request: ResolveTenantRequest["key"]): Promise<Tenant | undefined> {
    const started = epoch;
    rpcs++;
    const token = options.token ? await options.token() : undefined;
    try {
      const res = await client.resolveTenant(
        { key: request },
        { timeoutMs, ...(token !== undefined && { headers: { authorization: `Bearer ${token}` } }) },
      );
      const tenant = res.tenant;
      if (!tenant) throw new ConnectError("ResolveTenant answered without a tenant", Code.Internal);
      const stale = clearedAt > started || (evictedAt.get(tenant.id) ?? 0) > started;
      if (!stale) remember(key, { tenant }, Math.min(maxTtlMs, res.cacheTtlSeconds * 1_000));
      return tenant;
    } catch (err) {
      const code = ConnectError.from(err).code;
      // a key that cannot name a tenant (say, a 60-character host label as a slug) names none;
      // not remembered, so junk keys cannot crowd real answers out of the cache
      if (code === Code.InvalidArgument) return undefined;
      if (code !== Code.NotFound) throw err;
      if (epoch === started) remember(key, { tenant: undefined }, negativeTtlMs);
      return undefined;
    }
  }

  function lookup(key: string, request: ResolveTenantRequest["key"]): Promise<Tenant | undefined> {
    const cached = cache.get(key);
    if (cached) {
      hits++;
      return Promise.resolve(cached.tenant);
    }
    const pending = inFlight.get(key);
    if (pending && pending.epoch === epoch) return pending.answer;
    const answer = fetch(key, request).finally(() => {
      if (inFlight.get(key)?.answer === answer) inFlight.delete(key);
      if (inFlight.size === 0) evictedAt.clear();
    });
    inFlight.set(key, { epoch, answer });
    return answer;
  }

  let subscription: Subscription | undefined;
  let closed = false;
  if (options.nats) {
    const nats = options.nats;
    subscription = nats.subscribe(TENANT_EVENTS_SUBJECT, {
      callback: (err, msg) => {
        if (err) return;
        const tenantId = msg.subject.split(".")[2];
        if (!tenantId) return;
        const keys: string[] = [];
        try {
          const envelope = fromBinary(EventEnvelopeSchema, msg.data);
          const event = envelope.payload && anyUnpack(envelope.payload, TenantEventSchema);
          if (event?.tenant) {
            keys.push(`slug:${event.tenant.slug}`, ...event.tenant.verifiedDomains.map((d) => `domain:${d}`));
          }
        } catch (decodeErr) {
          log.debug({ err: decodeErr, subject: msg.subject }, "undecodable tenant event; evicting by subject");
        }
        evictions++;
        evict(tenantId, keys);
      },
    });
    void (async () => {
      for await (const status of nats.status()) {
        if (closed) return;
        if (status.type === "reconnect") {
          // events published while disconnected were missed
          epoch++;
          clearedAt = epoch;
          cache.clear();
          keysOf.clear();
          negatives.clear();
          log.info("NATS reconnected: tenant cache cleared");
        }
      }
    })();
  }

  const resolver: TenantResolver = {
    byId(tenantId) {
      const id = tenantId.toLowerCase();
      return lookup(`id:${id}`, { case: "tenantId", value: id });
    },
    bySlug(slug) {
      const s = slug.toLowerCase();
      return lookup(`slug:${s}`, { case: "slug", value: s });
    },
    byEmailDomain(emailOrDomain) {
      const domain = domainOf(emailOrDomain);
      return lookup(`domain:${domain}`, { case: "emailDomain", value: domain });
    },
    async requireActive(tenantId) {
      const tenant = await resolver.byId(tenantId);
      if (!tenant) throw new NotFound("tenant not found");
      if (tenant.status !== TenantStatus.ACTIVE) {
        throw new FailedPrecondition(`tenant is ${STATUS_NAMES[tenant.status] ?? "not active"}`);
      }
      return tenant;
    },
    invalidate(tenantId) {
      evict(tenantId);
    },
    stats: () => ({ rpcs, hits, evictions }),
    async close() {
      closed = true;
      subscription?.unsubscribe();
      if (ownClient) closeServiceClient(client);
    },
  };
  return resolver;
}
