import http2 from "node:http2";
import type { AddressInfo } from "node:net";

/** A server started by the benchmark, on 127.0.0.1. */
export interface BenchServer {
  readonly baseUrl: string;
  stop(): Promise<void>;
}

/** gRPC's length-prefixed message: 1 byte flags, 4 bytes big-endian length, then the message. */
const FRAME_HEADER_BYTES = 5;

/** Whether `body` is exactly one uncompressed gRPC frame. */
function isOneFrame(body: Buffer): boolean {
  return (
    body.length >= FRAME_HEADER_BYTES &&
    body.readUInt8(0) === 0 &&
    body.readUInt32BE(1) === body.length - FRAME_HEADER_BYTES
  );
}

/**
 * The floor for HTTP/2 + gRPC framing: a bare `node:http2` server that answers unary calls to
 * `path` by sending the request's frame back unchanged, with `grpc-status: 0` trailers. No
 * protobuf decoding, no routing, no interceptors. It works as an echo because the first field of
 * the request and of the response message share number and type, so the same bytes decode as a
 * response carrying the same message.
 */
export async function startBareGrpcEchoServer(path: string): Promise<BenchServer> {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  server.on("stream", (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", () => {});
    stream.on("end", () => {
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      const ok = headers[":path"] === path && isOneFrame(body);
      stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
      stream.once("wantTrailers", () =>
        stream.sendTrailers(
          ok ? { "grpc-status": "0" } : { "grpc-status": "12", "grpc-message": "bare echo serves one path, one frame" },
        ),
      );
      stream.end(ok ? body : undefined);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      await closed;
    },
  };
}
