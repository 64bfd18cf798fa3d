import http2 from "node:http2";

/** What came back for one raw HTTP/2 request. */
export interface RawResponse {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
  /** grpc-status from the trailers, or from the headers (trailers-only and gRPC-Web). */
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string;
}

/** A 5-byte-prefixed gRPC message (flags, big-endian length, data); `length` may lie on purpose. */
export function frame(data: Uint8Array, options: { flags?: number; length?: number } = {}): Buffer {
  const head = Buffer.alloc(5);
  head[0] = options.flags ?? 0;
  head.writeUInt32BE(options.length ?? data.byteLength, 1);
  return Buffer.concat([head, data]);
}

/**
 * One HTTP/2 request with exactly the bytes given, as a broken or hostile client would send it:
 * no client library fixes anything up. Fails after `timeoutMs`, so a server that hangs fails the test.
 */
export function rawRequest(
  baseUrl: string,
  path: string,
  body: Uint8Array,
  headers: Record<string, string>,
  timeoutMs = 5_000,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(baseUrl);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`no complete answer to ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    session.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    const stream = session.request({ ":method": "POST", ":path": path, te: "trailers", ...headers });
    let status = 0;
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      responseHeaders = h;
    });
    stream.on("trailers", (t) => {
      trailers = t;
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", () => undefined);
    stream.on("close", () => {
      clearTimeout(timer);
      session.close();
      const grpc = trailers["grpc-status"] ?? responseHeaders["grpc-status"];
      const message = String(trailers["grpc-message"] ?? responseHeaders["grpc-message"] ?? "");
      resolve({
        status,
        headers: responseHeaders,
        trailers,
        body: Buffer.concat(chunks),
        grpcStatus: grpc === undefined ? undefined : Number(grpc),
        grpcMessage: decodeURIComponent(message),
      });
    });
    stream.end(body);
  });
}
