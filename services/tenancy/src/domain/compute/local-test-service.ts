/**
 * A stand-in application service for the `local` driver's tests: answers grpc.health.v1.Health on
 * $PORT (h2c); with LOCAL_TEST_BROKEN set it fails at start-up,
 * as a misconfigured build would.
 */
import { createServer, type ServerHttp2Session } from "node:http2";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "@tessera/proto/grpc/health/v1/health_pb";

if (process.env.LOCAL_TEST_BROKEN) {
  console.error("local-test-service: this build is broken (LOCAL_TEST_BROKEN)");
  process.exit(3);
}
const server = createServer(
  connectNodeAdapter({
    routes: (router) => {
      router.service(Health, { check: () => ({ status: HealthCheckResponse_ServingStatus.SERVING }) });
    },
  }),
);
const sessions = new Set<ServerHttp2Session>();
server.on("session", (s) => {
  sessions.add(s);
  s.once("close", () => sessions.delete(s));
});
server.listen(Number(process.env.PORT), process.env.HOST ?? "127.0.0.1", () => {
  console.log(
    JSON.stringify({
      level: 30,
      msg: "listening",
      port: Number(process.env.PORT),
      tenant: process.env.SERVICE_TENANT_ID,
    }),
  );
});
process.once("SIGTERM", () => {
  for (const s of sessions) s.close();
  server.close(() => process.exit(0));
});
