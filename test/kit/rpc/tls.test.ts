import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { createLogger } from "@tessera/platform/log";
import { closeServiceClient, createServiceClient } from "@tessera/platform/rpc-client";
import type { RpcServer } from "@tessera/platform/rpc-server";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { captureLogs } from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { buildEchoServer } from "../../fixtures/echo-service/server.ts";

const logs = captureLogs("rpc-tls");
const logger = createLogger({ service: "rpc-tls-test", destination: logs.stream });
let server: RpcServer;
let url: string;
let ca: Buffer;

beforeAll(async () => {
  const dir = mkdtempSync(join(inject("runDir"), "tls-"));
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"].concat([
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ]),
    { stdio: "ignore", timeout: 10_000 },
  );
  ca = readFileSync(certFile);
  server = buildEchoServer({ logger, tls: { certFile, keyFile }, shutdownGraceMs: 5_000 });
  ({ url } = await server.listen());
});

afterAll(async () => {
  await server?.shutdown();
});

describe("a TLS server", () => {
  it("serves gRPC over HTTP/2 and gRPC-Web over HTTP/1.1, then shuts down without forcing idle connections", async () => {
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const grpcClient = createServiceClient(EchoService, { baseUrl: url, nodeOptions: { ca } });
    expect((await grpcClient.echo({ message: "over h2" })).message).toBe("over h2");

    const webClient = createClient(
      EchoService,
      createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1", nodeOptions: { ca } }),
    );
    expect((await webClient.echo({ message: "over http/1.1" }, { timeoutMs: 5_000 })).message).toBe("over http/1.1");

    // Both connections stay open (HTTP/2 session, HTTP/1.1 keep-alive); shutdown must still end cleanly.
    expect(await server.shutdown("test")).toEqual({ forced: false, hookFailures: 0 });
    closeServiceClient(grpcClient);
  });

  it("refuses to start from a missing certificate with a clear message", () => {
    expect(() =>
      buildEchoServer({ logger, tls: { certFile: "/nonexistent/cert.pem", keyFile: "/nonexistent/key.pem" } }),
    ).toThrow(/cannot read TLS certificate from \/nonexistent\/cert.pem: ENOENT/);
  });
});
