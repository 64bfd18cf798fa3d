import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { errorInterceptor } from "@tessera/platform/errors";
import { telemetryServerInterceptor } from "@tessera/platform/telemetry";

/** A stand-in for an edge (gateway): a bare HTTP/2 gRPC server with the kit's telemetry and error interceptors. */
export interface TestEdge {
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts the stand-in edge on a free loopback port. */
export async function startEdge(routes: (router: ConnectRouter) => void): Promise<TestEdge> {
  const server = http2.createServer(
    connectNodeAdapter({ routes, interceptors: [telemetryServerInterceptor(), errorInterceptor()] }),
  );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sessions) s.close();
      await closed;
    },
  };
}
