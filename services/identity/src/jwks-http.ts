import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "@tessera/platform/log";
import type { KeyStore } from "./domain/keys.ts";

/** The JWKS endpoint's HTTP server. */
export interface JwksServer {
  listen(): Promise<{ port: number; url: string }>;
  close(): Promise<void>;
}

/** Path of the key set, where verifiers (the kit's createTokenVerifier) fetch it. */
export const JWKS_PATH = "/.well-known/jwks.json";

/** Another HTTP handler served on the same port under a path prefix (SCIM under `/scim/v2`). */
export interface HttpRoute {
  prefix: string;
  handle(req: IncomingMessage, res: ServerResponse): void;
}

/**
 * `GET /.well-known/jwks.json` over HTTP/1.1 (the gRPC port is HTTP/2 only and verifiers fetch with
 * `fetch`). Short public caching: verifiers re-fetch on an unknown kid anyway, and a rotated key is
 * published before anything is signed with it. `routes` are dispatched by path prefix.
 */
export function createJwksServer(options: {
  keys: KeyStore;
  host: string;
  port: number;
  logger: Logger;
  routes?: readonly HttpRoute[];
}): JwksServer {
  const log = options.logger.child({ component: "jwks" });
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    const route = options.routes?.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`));
    if (route) {
      route.handle(req, res);
      return;
    }
    if (path !== JWKS_PATH) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    options.keys.jwks().then(
      (jwks) => {
        res.writeHead(200, {
          "content-type": "application/jwk-set+json",
          "cache-control": "public, max-age=60, stale-if-error=3600",
        });
        res.end(req.method === "HEAD" ? undefined : JSON.stringify(jwks));
      },
      (err: unknown) => {
        log.error({ err }, "serving the JWKS failed");
        res.writeHead(503, { "content-type": "text/plain", "retry-after": "1" }).end("unavailable\n");
      },
    );
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  return {
    async listen() {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(options.port, options.host, () => {
          server.off("error", reject);
          resolve();
        });
      });
      const { port } = server.address() as AddressInfo;
      const host = options.host === "0.0.0.0" ? "127.0.0.1" : options.host;
      const url = `http://${host}:${port}${JWKS_PATH}`;
      log.info({ port, url }, "jwks listening");
      return { port, url };
    },
    async close() {
      if (!server.listening) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
