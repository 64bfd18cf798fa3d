import type { Socket } from "node:net";
import { textProblem } from "@tessera/platform/rpc-server";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { sendProblem } from "./errors.ts";
import { type FieldError, notFound, PROBLEM_MEDIA_TYPE, ProblemError, problem } from "./problems.ts";

/** The JSON media types the edge reads (the second for PATCH). */
export const JSON_MEDIA_TYPES = ["application/json", "application/merge-patch+json"] as const;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

function charsetOf(contentType: string | undefined): string | undefined {
  const param = (contentType ?? "")
    .split(";")
    .slice(1)
    .map((p) => p.trim().split("="))
    .find(([k]) => k?.trim().toLowerCase() === "charset");
  return param?.[1]?.trim().replace(/^"|"$/g, "").toLowerCase();
}

function invalidBody(detail: string, errors: readonly FieldError[]): ProblemError {
  return new ProblemError("invalid-request", detail, errors);
}

/** `a.b[2].c` from a path of keys and indexes, the way the edge names fields. */
function fieldName(path: readonly (string | number)[]): string {
  return (
    path.reduce<string>((acc, p) => (typeof p === "number" ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "") || "body"
  );
}

/**
 * Every string (keys too) holding NUL or a lone surrogate, and every number JSON.parse could not
 * keep exactly (integers beyond ±2^53, infinities), without recursion (a body may nest deeply).
 */
function bodyProblems(value: unknown, inexact: ReadonlySet<unknown>): FieldError[] {
  const out: FieldError[] = [];
  const stack: Array<[unknown, (string | number)[]]> = [[value, []]];
  while (stack.length > 0 && out.length < 20) {
    const [v, path] = stack.pop() as [unknown, (string | number)[]];
    if (typeof v === "string") {
      const p = textProblem(v);
      if (p) out.push({ field: fieldName(path), message: p });
    } else if (typeof v === "number") {
      if (inexact.has(v))
        out.push({ field: fieldName(path), message: "is a number that cannot be represented exactly" });
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], [...path, i]]);
    } else if (typeof v === "object" && v !== null) {
      for (const [key, item] of Object.entries(v).reverse()) {
        const p = textProblem(key);
        if (p) out.push({ field: fieldName(path), message: `has a key that ${p}` });
        stack.push([item, [...path, key]]);
      }
    }
  }
  return out;
}

/**
 * The edge's JSON body parser (both media types): UTF-8 only (another charset is 415), valid
 * UTF-8 bytes, valid JSON, no NUL or lone surrogate in any string, and no number that JSON.parse
 * would silently round (an integer beyond ±2^53, 1e400) — all 400 invalid-request naming the
 * field. A number in exponent notation that is exact (1e3) is that number, for the schema to judge.
 */
export function parseJsonBody(req: FastifyRequest, body: Buffer): unknown {
  const charset = charsetOf(req.headers["content-type"]);
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
    throw new ProblemError("unsupported-media-type", "Send the request body as application/json in UTF-8.");
  }
  if (body.byteLength === 0) {
    throw invalidBody("The request body is empty.", [{ field: "body", message: "must be a JSON object" }]);
  }
  let text: string;
  try {
    text = strictUtf8.decode(body);
  } catch {
    throw invalidBody("The request body is not valid UTF-8.", [{ field: "body", message: "is not valid UTF-8" }]);
  }
  const inexact = new Set<unknown>();
  let value: unknown;
  try {
    value = JSON.parse(text, (_key, v: unknown) => {
      if (typeof v === "number" && (!Number.isFinite(v) || (Number.isInteger(v) && !Number.isSafeInteger(v)))) {
        // a boxed marker: the same rounded value elsewhere must not be mistaken for this one
        const marker = Object(v) as object;
        inexact.add(marker);
        return marker;
      }
      return v;
    });
  } catch {
    throw invalidBody("The request body is not valid JSON.", [{ field: "body", message: "is not valid JSON" }]);
  }
  const problems = bodyProblems(value, inexact);
  if (problems.length > 0) throw invalidBody("The request is invalid: see errors.", problems);
  return value;
}

/** Node's own refusals, before Fastify sees a request, as problem+json on the raw socket. */
function clientErrorAnswer(err: NodeJS.ErrnoException): { status: number; reason: string; body: string } {
  if (err.code === "HPE_HEADER_OVERFLOW") {
    const p = problem("headers-too-large", "The request headers are too large.");
    return { status: 431, reason: "Request Header Fields Too Large", body: JSON.stringify(p) };
  }
  if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    const p = problem("request-timeout", "The request was not received in time.");
    return { status: 408, reason: "Request Timeout", body: JSON.stringify(p) };
  }
  const p = problem("invalid-request", "The request is not valid HTTP.");
  return { status: 400, reason: "Bad Request", body: JSON.stringify(p) };
}

/** Fastify's `clientErrorHandler`: answers what Node refused (oversized headers → 431) with a problem body. */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable || err.code === "ECONNRESET") {
    socket.destroy();
    return;
  }
  const { status, reason, body } = clientErrorAnswer(err);
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: ${PROBLEM_MEDIA_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Fastify's `frameworkErrors`: a path that cannot be decoded (`%zz`, overlong UTF-8) names no
 * resource, so it gets exactly the 404 an unknown id gets (every path parameter is an id).
 */
export function frameworkErrorHandler(_err: Error, req: FastifyRequest, reply: FastifyReply): void {
  // Fastify calls this outside the request lifecycle (no route, no hooks): answer on the raw response
  const body = JSON.stringify(notFound().problem);
  reply.hijack();
  reply.raw.writeHead(404, {
    "content-type": PROBLEM_MEDIA_TYPE,
    "content-length": Buffer.byteLength(body),
    "x-request-id": req.id,
  });
  reply.raw.end(body);
}

function routePattern(url: string): RegExp {
  const escaped = url
    .split("/")
    .map((part) => {
      if (part === "*") return ".*";
      if (part.startsWith(":")) return "[^/]+";
      return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  return new RegExp(`^${escaped}$`);
}

/**
 * The methods the edge serves on a path (every registered route whose pattern matches it): the
 * `Allow` of a 405.
 */
export function allowedMethods(app: FastifyInstance, path: string): string[] {
  const methods = new Set<string>();
  for (const route of app.registeredRoutes) if (routePattern(route.url).test(path)) methods.add(route.method);
  return [...methods].sort();
}

/**
 * The not-found handler: a path the edge serves with other methods is 405 with `Allow`; anything
 * else (unknown paths, ids too long to match a route) is the one 404 every unknown id gets.
 */
export function notFoundHandler(app: FastifyInstance) {
  return (req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const path = (req.raw.url ?? "/").split("?", 1)[0] ?? "/";
    const allowed = allowedMethods(app, path);
    if (allowed.length > 0 && !allowed.includes(req.method)) {
      return sendProblem(
        reply,
        new ProblemError(
          "method-not-allowed",
          `${req.method} is not allowed here; use ${allowed.join(", ")}.`,
          undefined,
          {
            allow: allowed.join(", "),
          },
        ),
      );
    }
    return sendProblem(reply, notFound());
  };
}

/** Content-Encoding the edge reads: none. */
function refuseContentEncoding(req: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
  const encoding = req.headers["content-encoding"]?.trim().toLowerCase();
  if (encoding && encoding !== "identity") {
    done(
      new ProblemError(
        "unsupported-media-type",
        `Content-Encoding ${encoding} is not supported: send the body uncompressed.`,
        undefined,
        {
          "accept-encoding": "identity",
        },
      ),
    );
    return;
  }
  done();
}

/**
 * Installs the edge's protocol-level handling, one place for every route: the JSON body parser,
 * the Content-Encoding refusal, 405 with `Allow`, and the 404 for paths that name nothing.
 * (Node-level refusals are the Fastify options {@link clientErrorHandler} and {@link frameworkErrorHandler}.)
 */
export function installProtocolHooks(app: FastifyInstance): void {
  app.removeContentTypeParser(["application/json", "text/plain"]);
  app.addContentTypeParser([...JSON_MEDIA_TYPES], { parseAs: "buffer" }, (req, body, done) => {
    try {
      done(null, parseJsonBody(req, body as Buffer));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addHook("onRequest", refuseContentEncoding);
  app.setNotFoundHandler(notFoundHandler(app));
}
