import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { AuthService, TokenType } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { decodeJwt } from "jose";
import type { ServiceTokenSource } from "../auth/index.ts";
import { Unauthenticated } from "../errors/index.ts";
import { type Logger, rootLogger } from "../log/index.ts";
import { createServiceClient } from "../rpc-client/index.ts";
import { ExpiringLru } from "../tenancy-client/index.ts";
import { credentialKey, currentCredential, type EdgeCredential } from "./credential.ts";

/** Options of {@link createTokenExchanger}. */
export interface TokenExchangerOptions {
  /** identity's gRPC base URL. */
  identityUrl: string;
  /** The edge's own service tokens (its credential has the `edge` role); used for audience `identity`. */
  serviceTokens: ServiceTokenSource;
  /**
   * Events that evict cached internal tokens of a tenant at once: identity's `api_key.*` and
   * `membership.*` and tenancy's `tenant.*` (suspension). Without it only the lifetime bounds staleness.
   */
  nats?: NatsConnection;
  /** Exchanged tokens of user sessions are reused until this long before they expire. Default 30 s. */
  refreshSkewMs?: number;
  /** Longest reuse of one exchanged token. Default 60 000 ms. */
  maxReuseMs?: number;
  /**
   * Reuse exchanged tokens of API keys too (default false: every call exchanges, so a revoked key
   * fails on its very next call rather than when the revocation event arrives).
   */
  reuseApiKeyTokens?: boolean;
  /** Cached tokens at most. Default 10 000. */
  maxEntries?: number;
  /** Deadline of one ExchangeToken call. Default 3 000 ms. */
  timeoutMs?: number;
  logger?: Logger;
}

/** Turns end-user credentials into internal tokens for the services an edge calls. */
export interface TokenExchanger {
  /** An internal token for `audience` on behalf of the credential (RFC 8693 exchange at identity). */
  internalToken(credential: EdgeCredential, audience: string): Promise<string>;
  /** Evictions and exchanges so far (tests, metrics). */
  stats(): { exchanges: number; reused: number; evicted: number };
  close(): Promise<void>;
}

interface Cached {
  token: string;
  tenantId: string | undefined;
}

const EVICTING_SUBJECTS = ["tessera.evt.*.api_key.>", "tessera.evt.*.membership.>", "tessera.evt.*.tenant.>"];

/**
 * The edge side of token exchange: calls identity's ExchangeToken with the edge's own service
 * token, and keeps user-session results for a short while (bounded, evicted per tenant by
 * identity and tenancy events). Identity's refusals (unknown, expired or revoked credentials,
 * suspended tenants) surface as Unauthenticated / PermissionDenied to the edge's caller.
 */
export function createTokenExchanger(options: TokenExchangerOptions): TokenExchanger {
  const log = (options.logger ?? rootLogger()).child({ component: "token-exchanger" });
  const identity = createServiceClient(AuthService, {
    baseUrl: options.identityUrl,
    defaultTimeoutMs: options.timeoutMs ?? 3_000,
  });
  const cache = new ExpiringLru<string, Cached>(options.maxEntries ?? 10_000);
  const byTenant = new Map<string, Set<string>>();
  const refreshSkewMs = options.refreshSkewMs ?? 30_000;
  const maxReuseMs = options.maxReuseMs ?? 60_000;
  const counters = { exchanges: 0, reused: 0, evicted: 0 };
  const inflight = new Map<string, Promise<string>>();

  const evictTenant = (tenantId: string) => {
    const keys = byTenant.get(tenantId);
    if (!keys) return;
    for (const key of keys) cache.delete(key);
    counters.evicted += keys.size;
    byTenant.delete(tenantId);
  };

  let subscriptions: Subscription[] = [];
  if (options.nats) {
    subscriptions = EVICTING_SUBJECTS.map((subject) =>
      (options.nats as NatsConnection).subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          const tenantId = msg.subject.split(".")[2];
          if (tenantId) evictTenant(tenantId);
        },
      }),
    );
  }

  async function exchange(credential: EdgeCredential, audience: string, key: string): Promise<string> {
    counters.exchanges++;
    const edgeToken = await options.serviceTokens.getToken("identity");
    let res: Awaited<ReturnType<typeof identity.exchangeToken>>;
    try {
      res = await identity.exchangeToken(
        {
          subjectToken: credential.kind === "api_key" ? credential.key : credential.token,
          subjectTokenType: credential.kind === "api_key" ? TokenType.API_KEY : TokenType.ACCESS_TOKEN,
          audience,
        },
        { headers: { authorization: `Bearer ${edgeToken}` } },
      );
    } catch (err) {
      const e = ConnectError.from(err);
      if (e.code === Code.InvalidArgument) throw new Unauthenticated("invalid credentials");
      throw e;
    }
    const reusable = credential.kind === "access_token" || options.reuseApiKeyTokens === true;
    const expiresAt = res.expireTime ? Number(res.expireTime.seconds) * 1000 : 0;
    const ttl = Math.min(maxReuseMs, expiresAt - Date.now() - refreshSkewMs);
    if (reusable && ttl > 0) {
      const tenantId = decodeJwt(res.accessToken).tid as string | undefined;
      cache.set(key, { token: res.accessToken, tenantId }, ttl);
      if (tenantId) {
        const keys = byTenant.get(tenantId) ?? new Set<string>();
        keys.add(key);
        byTenant.set(tenantId, keys);
      }
    }
    return res.accessToken;
  }

  return {
    async internalToken(credential, audience) {
      const key = `${credentialKey(credential)}|${audience}`;
      const hit = cache.get(key);
      if (hit) {
        counters.reused++;
        return hit.token;
      }
      const pending = inflight.get(key);
      if (pending) return pending;
      const promise = exchange(credential, audience, key).finally(() => inflight.delete(key));
      inflight.set(key, promise);
      return promise;
    },
    stats: () => ({ ...counters }),
    async close() {
      for (const s of subscriptions) s.unsubscribe();
      log.debug("token exchanger closed");
    },
  };
}

/**
 * A Connect client interceptor for an edge's calls to one service: exchanges the current request's
 * credential (see runWithCredential) for an internal token with that audience and sends it.
 * Calls made outside a request credential fail with Unauthenticated rather than going out bare.
 */
export function exchangeInterceptor(exchanger: TokenExchanger, audience: string): Interceptor {
  return (next) => async (req) => {
    const credential = currentCredential();
    if (!credential) throw new ConnectError("no credential for this call", Code.Unauthenticated);
    req.header.set("authorization", `Bearer ${await exchanger.internalToken(credential, audience)}`);
    return next(req);
  };
}
