import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, createFileRegistry, type Message } from "@bufbuild/protobuf";
import type { GenMessage, GenService } from "@bufbuild/protobuf/codegenv2";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { currentContext, type RequestContext } from "@tessera/platform/context";
import type { Logger } from "@tessera/platform/log";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";

/**
 * `grpc.health.v1.Health/Check`, described inline: the health proto is not generated into
 * proto/gen yet. The wire format matches grpc/health/v1/health.proto (status is an enum there;
 * an int32 encodes identically).
 */
type HealthCheckRequest = Message<"grpc.health.v1.HealthCheckRequest"> & { service: string };
type HealthCheckResponse = Message<"grpc.health.v1.HealthCheckResponse"> & { status: number };
type HealthDesc = GenService<{
  check: { methodKind: "unary"; input: GenMessage<HealthCheckRequest>; output: GenMessage<HealthCheckResponse> };
}>;

export const HealthService: HealthDesc = (() => {
  const file = create(FileDescriptorProtoSchema, {
    name: "grpc/health/v1/health.proto",
    package: "grpc.health.v1",
    syntax: "proto3",
    messageType: [
      { name: "HealthCheckRequest", field: [{ name: "service", number: 1, type: 9, label: 1, jsonName: "service" }] },
      { name: "HealthCheckResponse", field: [{ name: "status", number: 1, type: 5, label: 1, jsonName: "status" }] },
    ],
    service: [
      {
        name: "Health",
        method: [
          {
            name: "Check",
            inputType: ".grpc.health.v1.HealthCheckRequest",
            outputType: ".grpc.health.v1.HealthCheckResponse",
          },
        ],
      },
    ],
  });
  const service = createFileRegistry(file, () => undefined).getService("grpc.health.v1.Health");
  if (!service) throw new Error("health descriptor did not build");
  return service as HealthDesc;
})();

/** What a handler saw of the request context, recorded per call. */
export interface SeenContext {
  method: string;
  tenantId: string | undefined;
  subject: string | undefined;
  kind: string | undefined;
  actorChain: readonly string[] | undefined;
  hasToken: boolean;
}

export interface EchoServer {
  baseUrl: string;
  /** Contexts the handlers observed, in call order (one per streamed message for CountTo). */
  seen: SeenContext[];
  stop(): Promise<void>;
}

function record(seen: SeenContext[], method: string, ctx: RequestContext | undefined): void {
  seen.push({
    method,
    tenantId: ctx?.tenantId,
    subject: ctx?.principal?.subject,
    kind: ctx?.principal?.kind,
    actorChain: ctx?.principal?.actorChain,
    hasToken: ctx?.token !== undefined,
  });
}

/** A connect-node HTTP/2 server on 127.0.0.1 serving EchoService and Health with the given interceptors. */
export async function startEchoServer(interceptors: Interceptor[], log: Logger): Promise<EchoServer> {
  const seen: SeenContext[] = [];
  const routes = (router: ConnectRouter) => {
    router.service(EchoService, {
      echo(req) {
        const ctx = currentContext();
        record(seen, "echo", ctx);
        log.info({ method: "echo" }, "echo handled");
        return {
          message: req.message,
          tenantId: ctx?.tenantId ?? "",
          subject: ctx?.principal?.subject ?? "",
        };
      },
      async *countTo(req) {
        for (let n = 1; n <= req.count; n++) {
          await new Promise((resolve) => setImmediate(resolve));
          record(seen, "countTo", currentContext());
          yield { number: n };
        }
      },
    });
    router.service(HealthService, { check: () => ({ status: 1 }) });
  };
  const server = http2.createServer(connectNodeAdapter({ routes, interceptors }));
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
    baseUrl: `http://127.0.0.1:${port}`,
    seen,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sessions) s.close();
      await closed;
    },
  };
}
