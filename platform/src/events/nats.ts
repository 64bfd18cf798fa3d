import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/nats-core";
import { connect, type NodeConnectionOptions } from "@nats-io/transport-node";
import { inboxPrefix, isNatsUserName } from "./permissions.ts";
import { DLQ_STREAM, DLQ_SUBJECT_PREFIX, EVENT_SUBJECT_PREFIX, EVENTS_STREAM } from "./subjects.ts";

/**
 * The servers without credentials, and the credentials the URLs carry: `nats://<user>:<password>@…`
 * (each deployable's NATS_URL) or `nats://<token>@…`. The client ignores credentials inside URLs,
 * so they become its `user`/`pass` (or `token`), and a user's inbox prefix becomes its own
 * (inboxPrefix), the only inboxes its permissions let it subscribe to.
 */
function credentialsFromUrls(servers: string | string[]): Partial<NodeConnectionOptions> & { servers: string[] } {
  const bare: string[] = [];
  let auth: { user: string; pass: string } | undefined;
  for (const server of Array.isArray(servers) ? servers : [servers]) {
    if (!/^[a-z]+:\/\/[^/]*@/i.test(server)) {
      bare.push(server);
      continue;
    }
    const url = new URL(server);
    const found = { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) };
    if (auth && (auth.user !== found.user || auth.pass !== found.pass))
      throw new TypeError("the NATS server URLs carry different credentials");
    auth = found;
    url.username = "";
    url.password = "";
    bare.push(url.toString().replace(/\/$/, ""));
  }
  if (!auth) return { servers: bare };
  if (auth.pass === "") return { servers: bare, token: auth.user };
  const own = isNatsUserName(auth.user) ? { inboxPrefix: inboxPrefix(auth.user) } : {};
  return { servers: bare, user: auth.user, pass: auth.pass, ...own };
}

/**
 * Connection options every Tessera NATS client uses: reconnect forever (a relay or consumer must
 * outlive any NATS outage), every 500 ms plus jitter, and detect a silent server within ~30 s.
 * The first connect fails fast (5 s) so a wrong URL is reported instead of waited on. Credentials
 * in the URLs are used as the connection's user and password.
 */
export function natsConnectOptions(servers: string | string[], name: string): NodeConnectionOptions {
  return {
    ...credentialsFromUrls(servers),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    timeout: 5_000,
    pingInterval: 10_000,
    maxPingOut: 3,
  };
}

/** Connects to NATS with natsConnectOptions (extra options override them). */
export function connectNats(
  servers: string | string[],
  name: string,
  overrides: Partial<NodeConnectionOptions> = {},
): Promise<NatsConnection> {
  return connect({ ...natsConnectOptions(servers, name), ...overrides });
}

/** Settings of the event streams. */
export interface StreamsOptions {
  /** De-duplication window of `Nats-Msg-Id` on the events stream; at least 2 min. Default 2 min. */
  duplicateWindowMs?: number;
  /** How long events are kept; 0 = until limits. Default 7 days. */
  eventsMaxAgeMs?: number;
  /** How long dead letters are kept. Default 30 days. */
  dlqMaxAgeMs?: number;
}

const DAY = 24 * 60 * 60 * 1000;
const MIN_DUPLICATE_WINDOW = 2 * 60 * 1000;
/** JSStreamNameExistErr: not in the client's JetStreamApiCodes. */
const STREAM_NAME_IN_USE = 10058;

function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

async function upsertStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  const exists = await jsm.streams.info(config.name).then(
    () => true,
    (err: unknown) => {
      if (isNotFound(err)) return false;
      throw err;
    },
  );
  if (!exists) {
    try {
      await jsm.streams.add(config);
      return;
    } catch (err) {
      // another process created it between our info and add: fall through to update
      if (!(err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE)) throw err;
    }
  }
  const { name, storage: _storage, ...updatable } = config;
  await jsm.streams.update(name, updatable);
}

/**
 * Creates (or brings up to date) the `TESSERA_EVENTS` stream (`tessera.evt.>`, file storage,
 * `Nats-Msg-Id` de-duplication window ≥ 2 min) and the `TESSERA_DLQ` stream (`tessera.dlq.>`).
 * Safe to call from every process at start-up, concurrently.
 */
export async function ensureStreams(jsm: JetStreamManager, options: StreamsOptions = {}): Promise<void> {
  const duplicateWindowMs = options.duplicateWindowMs ?? MIN_DUPLICATE_WINDOW;
  if (duplicateWindowMs < MIN_DUPLICATE_WINDOW) {
    throw new RangeError("duplicateWindowMs must be at least 120000 (2 min): relay retries must stay de-duplicated");
  }
  await upsertStream(jsm, {
    name: EVENTS_STREAM,
    subjects: [`${EVENT_SUBJECT_PREFIX}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    duplicate_window: nanos(duplicateWindowMs),
    max_age: nanos(options.eventsMaxAgeMs ?? 7 * DAY),
  });
  await upsertStream(jsm, {
    name: DLQ_STREAM,
    subjects: [`${DLQ_SUBJECT_PREFIX}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    duplicate_window: nanos(MIN_DUPLICATE_WINDOW),
    max_age: nanos(options.dlqMaxAgeMs ?? 30 * DAY),
  });
}
