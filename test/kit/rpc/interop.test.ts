import { ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { nextWithContext } from "@tessera/platform/context";
import { NotFound } from "@tessera/platform/errors";
import { createLogger } from "@tessera/platform/log";
import { createRpcServer, type RpcServer } from "@tessera/platform/rpc-server";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { captureLogs } from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildEchoServer } from "../../fixtures/echo-service/server.ts";
import { collect, grpc, grpcJsClients } from "./support/grpc-js.ts";

/** Test-only stand-in for the auth interceptor: takes the tenant from a header. */
const tenantFromHeader: Interceptor = (next) => (req) => {
  const tenantId = req.header.get("x-test-tenant");
  if (!tenantId) return next(req);
  return nextWithContext(
    { tenantId, principal: { subject: "user-7", kind: "user", roles: [], scopes: [], actorChain: [] } },
    next,
    req,
  );
};

const logs = captureLogs("rpc-interop");
const logger = createLogger({ service: "echo-interop", destination: logs.stream, level: "debug" });
let server: RpcServer;
let baseUrl: string;
let clients: ReturnType<typeof grpcJsClients>;

beforeAll(async () => {
  server = buildEchoServer({ logger, interceptors: [tenantFromHeader] });
  const { port, url } = await server.listen();
  baseUrl = url;
  clients = grpcJsClients(`127.0.0.1:${port}`);
});

afterAll(async () => {
  clients?.close();
  await server?.shutdown("test over");
});

function grpcError(err: unknown): grpc.ServiceError {
  expect(err).toBeInstanceOf(Error);
  return err as grpc.ServiceError;
}

describe("an independent @grpc/grpc-js client", () => {
  it("gets a unary answer, with request metadata echoed in the response header and trailer", async () => {
    const { response, header, trailer } = await clients.unary<{
      message: string;
      echoHeader: string;
      tenantId: string;
    }>(clients.echo, "echo", { message: "hello" }, { metadata: { "x-echo": "ping" } });
    expect(response).toMatchObject({ message: "hello", echoHeader: "ping", tenantId: "" });
    expect(header.get("x-echo")).toEqual(["ping"]);
    expect(trailer.get("x-message-length")).toEqual(["5"]);
  });

  it("keeps a well-formed x-request-id and replaces a malformed one", async () => {
    const kept = await clients.unary(
      clients.echo,
      "echo",
      { message: "a" },
      { metadata: { "x-request-id": "req-42.a" } },
    );
    expect(kept.header.get("x-request-id")).toEqual(["req-42.a"]);
    const replaced = await clients.unary(
      clients.echo,
      "echo",
      { message: "a" },
      { metadata: { "x-request-id": "id with spaces" } },
    );
    const [id] = replaced.header.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
  });

  it("runs the handler in the context an interceptor established", async () => {
    const { response } = await clients.unary<{ tenantId: string; subject: string }>(
      clients.echo,
      "echo",
      { message: "who am I" },
      { metadata: { "x-test-tenant": "tenant-a" } },
    );
    expect(response).toMatchObject({ tenantId: "tenant-a", subject: "user-7" });
  });

  it("gets DEADLINE_EXCEEDED when its deadline is shorter than Sleep, and the handler sees the abort", async () => {
    const err = await clients.unary(clients.echo, "sleep", { delayMs: 5_000 }, { deadlineMs: 200 }).catch((e) => e);
    expect(grpcError(err).code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await vi.waitFor(() => expect(logs.lines().some((l) => l.msg === "sleep ended early")).toBe(true), {
      timeout: 3_000,
    });
    await vi.waitFor(() => expect(server.inFlight()).toBe(0), { timeout: 3_000 });
  });

  const kinds: Array<[string, grpc.status]> = [
    ["NotFound", grpc.status.NOT_FOUND],
    ["AlreadyExists", grpc.status.ALREADY_EXISTS],
    ["InvalidArgument", grpc.status.INVALID_ARGUMENT],
    ["FailedPrecondition", grpc.status.FAILED_PRECONDITION],
    ["PermissionDenied", grpc.status.PERMISSION_DENIED],
    ["Unauthenticated", grpc.status.UNAUTHENTICATED],
    ["ResourceExhausted", grpc.status.RESOURCE_EXHAUSTED],
    ["Unavailable", grpc.status.UNAVAILABLE],
  ];
  it.each(kinds)("sees domain error %s as gRPC status %i with its message", async (kind, code) => {
    const err = await clients.unary(clients.echo, "fail", { kind, message: `${kind} for widget-42` }).catch((e) => e);
    expect(grpcError(err).code).toBe(code);
    expect(decodeURIComponent(grpcError(err).details)).toBe(`${kind} for widget-42`);
  });

  it("sees an unexpected exception as INTERNAL with a generic message and no internals", async () => {
    const err = grpcError(await clients.unary(clients.echo, "fail", { kind: "Crash" }).catch((e) => e));
    expect(err.code).toBe(grpc.status.INTERNAL);
    expect(err.details).toBe("internal error");
    const everything = JSON.stringify({ details: err.details, metadata: err.metadata.getMap() });
    expect(everything).not.toMatch(/internal-db|srv\/echo|handlers\.ts|\n\s+at /);
    expect(logs.lines().some((l) => l.msg === "unexpected error in handler")).toBe(true);
  });

  it("gets INVALID_ARGUMENT naming the field when a request breaks the proto's rules", async () => {
    const err = grpcError(await clients.unary(clients.echo, "echo", { message: "" }).catch((e) => e));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(decodeURIComponent(err.details)).toContain("message");
    const stream = grpcError(
      await collect(clients.serverStream(clients.echo, "countTo", { count: 0 })).catch((e) => e),
    );
    expect(stream.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(decodeURIComponent(stream.details)).toContain("count");
  });

  it("receives a server stream", async () => {
    const messages = await collect<{ number: number }>(clients.serverStream(clients.echo, "countTo", { count: 5 }));
    expect(messages.map((m) => m.number)).toEqual([1, 2, 3, 4, 5]);
  });

  it("reads grpc.health.v1 Check: SERVING overall, for liveness and for the service; NOT_FOUND when unknown", async () => {
    for (const service of ["", "liveness", "readiness", "tessera.testing.v1.EchoService"]) {
      const { response } = await clients.unary<{ status: string }>(clients.health, "check", { service });
      expect(response.status, service).toBe("SERVING");
    }
    const err = grpcError(await clients.unary(clients.health, "check", { service: "nope.v1.Nope" }).catch((e) => e));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
  });
});

describe("one port serves gRPC, gRPC-Web and Connect", () => {
  const transports = {
    connect: () => createConnectTransport({ baseUrl, httpVersion: "2" }),
    "grpc-web": () => createGrpcWebTransport({ baseUrl, httpVersion: "2" }),
  };
  for (const [name, make] of Object.entries(transports)) {
    it(`answers the ${name} protocol, errors and streams included`, async () => {
      const client = createClient(EchoService, make());
      const res = await client.echo({ message: `over ${name}` }, { headers: { "x-echo": name }, timeoutMs: 5_000 });
      expect(res).toMatchObject({ message: `over ${name}`, echoHeader: name });

      const notFound = await client
        .fail({ kind: "NotFound", message: "no such widget" }, { timeoutMs: 5_000 })
        .catch((e) => e);
      expect(ConnectError.from(notFound).code).toBe(Code.NotFound);
      expect(ConnectError.from(notFound).rawMessage).toBe("no such widget");

      const invalid = ConnectError.from(await client.echo({ message: "" }, { timeoutMs: 5_000 }).catch((e) => e));
      expect(invalid.code).toBe(Code.InvalidArgument);
      const [violations] = invalid.findDetails(ViolationsSchema);
      expect(violations?.violations[0]?.field?.elements[0]?.fieldName).toBe("message");

      const numbers: number[] = [];
      for await (const m of client.countTo({ count: 3 }, { timeoutMs: 5_000 })) numbers.push(m.number);
      expect(numbers).toEqual([1, 2, 3]);
    });
  }
});

describe("a server-streaming handler that fails mid-stream", () => {
  let failing: RpcServer;
  let failingClients: ReturnType<typeof grpcJsClients>;
  beforeAll(async () => {
    failing = createRpcServer({
      service: "failing-echo",
      logger,
      register: (router) =>
        router.service(EchoService, {
          async *countTo(req) {
            yield { number: 1 };
            if (req.count === 2) throw new NotFound("cursor 7 expired");
            throw new Error("cursor lost at /srv/echo/internal-db");
          },
        }),
    });
    const { port } = await failing.listen();
    failingClients = grpcJsClients(`127.0.0.1:${port}`);
  });
  afterAll(async () => {
    failingClients?.close();
    await failing?.shutdown();
  });

  async function streamOutcome(count: number) {
    const received: unknown[] = [];
    const stream = failingClients.serverStream(failingClients.echo, "countTo", { count });
    stream.on("data", (m) => received.push(m));
    return { err: grpcError(await collect(stream).catch((e) => e)), received };
  }

  it("maps a domain error to its status, after the messages already sent", async () => {
    const { err, received } = await streamOutcome(2);
    expect(received).toEqual([{ number: 1 }]);
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(decodeURIComponent(err.details)).toBe("cursor 7 expired");
  });

  it("ends with INTERNAL and a generic message on a crash, and logs the original", async () => {
    const { err, received } = await streamOutcome(3);
    expect(received).toEqual([{ number: 1 }]);
    expect(err.code).toBe(grpc.status.INTERNAL);
    expect(err.details).toBe("internal error");
    await vi.waitFor(() => expect(logs.text()).toContain("cursor lost at /srv/echo/internal-db"));
  });
});
