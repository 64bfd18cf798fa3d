import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const protoRoot = new URL("../../../../proto/", import.meta.url).pathname;

/** A unary call's outcome as an independent gRPC client sees it. */
export interface UnaryResult<T> {
  response: T;
  header: grpc.Metadata;
  trailer: grpc.Metadata;
}

type Callback = (err: grpc.ServiceError | null, res: unknown) => void;
type RawClient = grpc.Client &
  Record<string, (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: Callback) => grpc.ClientUnaryCall>;
type StreamingClient = grpc.Client &
  Record<string, (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientReadableStream<unknown>>;

/**
 * Clients built the way a non-Connect team would: @grpc/grpc-js with the .proto files loaded
 * by @grpc/proto-loader (no generated code from this repository).
 */
export function grpcJsClients(address: string) {
  const definition = protoLoader.loadSync(["tessera/testing/v1/echo.proto", "grpc/health/v1/health.proto"], {
    includeDirs: [protoRoot, join(protoRoot, ".buf-deps")],
    longs: Number,
    enums: String,
    defaults: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    tessera: { testing: { v1: { EchoService: grpc.ServiceClientConstructor } } };
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  const credentials = grpc.credentials.createInsecure();
  const echo = new loaded.tessera.testing.v1.EchoService(address, credentials);
  const health = new loaded.grpc.health.v1.Health(address, credentials);

  function unary<T>(
    client: grpc.Client,
    method: string,
    req: unknown,
    opts: { metadata?: Record<string, string>; deadlineMs?: number } = {},
  ): Promise<UnaryResult<T>> {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(opts.metadata ?? {})) md.set(k, v);
    const deadline = Date.now() + (opts.deadlineMs ?? 5_000);
    return new Promise((resolve, reject) => {
      let header = new grpc.Metadata();
      let response: unknown;
      let error: grpc.ServiceError | null = null;
      const call = (client as RawClient)[method]?.call(client, req, md, { deadline }, (err, res) => {
        error = err;
        response = res;
      });
      if (!call) throw new Error(`no method ${method}`);
      call.on("metadata", (m) => {
        header = m;
      });
      call.on("status", (status) => {
        // The callback has run by the time "status" is emitted.
        setImmediate(() => {
          if (error) reject(error);
          else resolve({ response: response as T, header, trailer: status.metadata });
        });
      });
    });
  }

  function serverStream<T>(
    client: grpc.Client,
    method: string,
    req: unknown,
    deadlineMs = 5_000,
  ): grpc.ClientReadableStream<T> {
    const fn = (client as StreamingClient)[method];
    if (!fn) throw new Error(`no method ${method}`);
    return fn.call(client, req, new grpc.Metadata(), {
      deadline: Date.now() + deadlineMs,
    }) as grpc.ClientReadableStream<T>;
  }

  return {
    echo,
    health,
    unary,
    serverStream,
    close() {
      echo.close();
      health.close();
    },
  };
}

/** Collects a server stream's messages, or rejects with its error. */
export function collect<T>(stream: grpc.ClientReadableStream<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    stream.on("data", (m: T) => out.push(m));
    stream.on("error", reject);
    stream.on("end", () => resolve(out));
  });
}

export { grpc };
