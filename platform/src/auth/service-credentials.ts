import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Interceptor } from "@connectrpc/connect";
import { ServiceCredentialService } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { currentContext, runWithContext } from "../context/index.ts";
import { type Logger, rootLogger } from "../log/index.ts";
import { closeServiceClient, createServiceClient } from "../rpc-client/index.ts";

/** Options of {@link createServiceTokenSource}. */
export interface ServiceTokenSourceOptions {
  /** identity's gRPC base URL (`http://host:port`). */
  identityUrl: string;
  /** This gateway's or service's client id, as seeded into identity. */
  clientId: string;
  /** Its secret; never logged. */
  clientSecret: string;
  /** A cached token is renewed this long before it expires (default 30 s; at most half its lifetime). */
  refreshSkewMs?: number;
  /** Deadline of one IssueServiceToken call, retries included (default 5 s). */
  timeoutMs?: number;
  logger?: Logger;
}

/** Service tokens for this process's own calls, one cached token per audience. */
export interface ServiceTokenSource {
  /** A valid service token for `audience` (a target service name). */
  getToken(audience: string): Promise<string>;
  /** Closes the connection to identity. */
  close(): void;
}

interface Cached {
  token: string;
  expiresAt: number;
  renewAt: number;
}

/**
 * Trades this process's client credential for service tokens (`IssueServiceToken`), caching each
 * audience's token until shortly before it expires. Concurrent callers share one request per
 * audience (single flight); every request has a deadline; when renewal fails while the cached
 * token is still valid, the cached token is used (and the failure logged).
 */
export function createServiceTokenSource(options: ServiceTokenSourceOptions): ServiceTokenSource {
  const skew = options.refreshSkewMs ?? 30_000;
  if (!Number.isInteger(skew) || skew < 0) throw new TypeError("refreshSkewMs must be a non-negative integer");
  const log = (options.logger ?? rootLogger()).child({ component: "service-token-source" });
  const client = createServiceClient(ServiceCredentialService, {
    baseUrl: options.identityUrl,
    defaultTimeoutMs: options.timeoutMs ?? 5_000,
  });
  const cache = new Map<string, Cached>();
  const inFlight = new Map<string, Promise<string>>();

  const fetchToken = async (audience: string): Promise<string> => {
    // never forward the caller's own token to identity's public endpoint
    const res = await runWithContext({ token: undefined }, () =>
      client.issueServiceToken({ clientId: options.clientId, clientSecret: options.clientSecret, audience }),
    );
    const now = Date.now();
    const expiresAt = res.expireTime ? timestampDate(res.expireTime).getTime() : now;
    const renewAt = expiresAt - Math.min(skew, Math.max(0, (expiresAt - now) / 2));
    cache.set(audience, { token: res.accessToken, expiresAt, renewAt });
    return res.accessToken;
  };

  return {
    getToken(audience) {
      const cached = cache.get(audience);
      const now = Date.now();
      if (cached && now < cached.renewAt) return Promise.resolve(cached.token);
      let pending = inFlight.get(audience);
      if (!pending) {
        pending = fetchToken(audience)
          .catch((err: unknown) => {
            const stale = cache.get(audience);
            if (stale && Date.now() < stale.expiresAt) {
              log.warn(
                { audience, err_message: (err as Error).message },
                "service token renewal failed; using the cached one",
              );
              return stale.token;
            }
            throw err;
          })
          .finally(() => inFlight.delete(audience));
        inFlight.set(audience, pending);
      }
      return pending;
    },
    close: () => closeServiceClient(client),
  };
}

/**
 * A Connect client interceptor that authenticates calls with this process's own service token for
 * `audience`, unless the call already carries credentials: an explicit `authorization` header, or a
 * request context with a token (which the kit's propagation forwards instead, so a user's
 * identity is never replaced by the service's).
 */
export function serviceTokenInterceptor(source: ServiceTokenSource, audience: string): Interceptor {
  return (next) => async (req) => {
    if (!req.header.has("authorization") && currentContext()?.token === undefined) {
      req.header.set("authorization", `Bearer ${await source.getToken(audience)}`);
    }
    return next(req);
  };
}
