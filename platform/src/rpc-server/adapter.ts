import type http2 from "node:http2";
import type { HandlerContext } from "@connectrpc/connect";
import { Code, ConnectError, type ConnectRouter, createConnectRouter, type Interceptor } from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import type { Logger } from "../log/index.ts";
import { bodyFormat, checkedRequestBody } from "./request-body.ts";

/** What {@link createNodeHandler} builds the request handler from. */
export interface NodeHandlerOptions {
  readonly interceptors: readonly Interceptor[];
  readonly readMaxBytes: number;
  readonly shutdownSignal: AbortSignal;
  /** Runs once the headers are in, before any of the body is read (cheap refusals: no credential). */
  readonly requestGate?: ((context: HandlerContext) => void | Promise<void>) | undefined;
  readonly routes: (router: ConnectRouter) => void;
  readonly log: Logger;
}

const compressions = [compressionGzip, compressionBrotli];

/**
 * The kit's node:http2 request handler over a Connect router (connect-node's adapter, plus what it
 * lacks): the request body is checked before Connect reads it (see request-body.ts), and a path no
 * service serves answers UNIMPLEMENTED in the caller's protocol (a gRPC status trailer, a gRPC-Web
 * status header, or Connect's 404 JSON error) rather than a bare 404.
 */
export function createNodeHandler(options: NodeHandlerOptions) {
  const router = createConnectRouter({
    interceptors: [...options.interceptors],
    readMaxBytes: options.readMaxBytes,
    shutdownSignal: options.shutdownSignal,
    acceptCompression: compressions,
    ...(options.requestGate && { requestGate: options.requestGate }),
  });
  options.routes(router);
  const paths = new Map<string, UniversalHandler>();
  const services = new Set<string>();
  for (const handler of router.handlers) {
    paths.set(handler.requestPath, handler);
    services.add(handler.service.typeName);
  }

  return (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void => {
    const path = req.url.split("?", 1)[0] ?? "";
    const handler = paths.get(path);
    if (!handler) {
      unimplemented(req, res, unknownProcedureMessage(path, services));
      return;
    }
    const uReq = universalRequestFromNodeRequest(req, res, undefined, undefined);
    const format = bodyFormat(uReq.header.get("content-type"));
    const body =
      format && isByteStream(uReq.body)
        ? checkedRequestBody(uReq.body, {
            format,
            input: handler.method.input,
            encoding: uReq.header.get(format.encodingHeader),
            compressions,
            readMaxBytes: options.readMaxBytes,
          })
        : uReq.body;
    handler({ ...uReq, body })
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code === Code.Aborted) return;
        options.log.error({ err: reason, procedure: path }, "rpc handler failed outside the call");
      });
  };
}

function isByteStream(body: unknown): body is AsyncIterable<Uint8Array> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}

const PROCEDURE = /^\/([^/]+)\/([^/]+)$/;

/** gRPC's own wording (`unknown service x`, `unknown method M for service x`). */
export function unknownProcedureMessage(path: string, services: ReadonlySet<string>): string {
  const match = PROCEDURE.exec(path);
  if (!match) return `malformed method name: ${JSON.stringify(path)}`;
  const [, service = "", method = ""] = match;
  return services.has(service) ? `unknown method ${method} for service ${service}` : `unknown service ${service}`;
}

function unimplemented(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse, message: string): void {
  const contentType = String(req.headers["content-type"] ?? "").toLowerCase();
  const grpcMessage = encodeURIComponent(message);
  // the body is not needed; reading it lets the stream finish cleanly
  req.resume();
  if (contentType.startsWith("application/grpc-web")) {
    res.writeHead(200, {
      "content-type": contentType.split(";", 1)[0] ?? "application/grpc-web",
      "grpc-status": String(Code.Unimplemented),
      "grpc-message": grpcMessage,
    });
    res.end();
    return;
  }
  if (contentType.startsWith("application/grpc")) {
    res.writeHead(200, { "content-type": contentType.split(";", 1)[0] ?? "application/grpc" });
    res.addTrailers({ "grpc-status": String(Code.Unimplemented), "grpc-message": grpcMessage });
    res.end();
    return;
  }
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ code: "unimplemented", message }));
}
