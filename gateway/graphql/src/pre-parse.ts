import { textProblem } from "@tessera/platform/rpc-server";
import type { Plugin } from "graphql-yoga";
import type { GatewayContext } from "./context.ts";
import { GraphQLError } from "./graphql.ts";
import { LIMIT_CODES } from "./limits.ts";

/** Bounds on the raw request, checked before anything parses it. */
export interface DocumentLimits {
  /** Most lexical tokens in the GraphQL document. */
  readonly maxTokens: number;
  /** Deepest nesting of `{`, `(` and `[` in the document, and of objects and arrays in the JSON body. */
  readonly maxNesting: number;
}

/** Defaults: far above any real operation, far below what overflows a parser's stack. */
export const DOCUMENT_LIMITS: DocumentLimits = { maxTokens: 15_000, maxNesting: 64 };

/** Codes of the refusals made here (`extensions.code`). */
export const REQUEST_CODES = {
  unsupportedMediaType: "UNSUPPORTED_MEDIA_TYPE",
  badRequest: "BAD_REQUEST",
  badUserInput: "BAD_USER_INPUT",
} as const;

/** A GraphQL-shaped refusal with an HTTP status (yoga answers `{ errors: [...] }` with it). */
export function requestError(message: string, code: string, status: number, extra: Record<string, unknown> = {}) {
  return new GraphQLError(message, { extensions: { code, ...extra, http: { status } } });
}

const OPEN = new Set([0x7b, 0x28, 0x5b]); // { ( [
const CLOSE = new Set([0x7d, 0x29, 0x5d]); // } ) ]
const PUNCTUATOR = new Set([..."!$&:=@|".split("").map((c) => c.charCodeAt(0)), ...OPEN, ...CLOSE]);

function isNameChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
}

/**
 * A linear scan of a GraphQL document counting tokens and bracket nesting, skipping strings,
 * block strings and comments, stopping at the first excess: no recursion, so a 100,000-deep
 * document costs one pass and never reaches the (recursive) parser. Returns the refusal, if any.
 */
export function scanDocument(source: string, limits: DocumentLimits): GraphQLError | undefined {
  let tokens = 0;
  let depth = 0;
  const n = source.length;
  let i = 0;
  const tooMany = () =>
    requestError(`The document has more than ${limits.maxTokens} tokens.`, LIMIT_CODES.tokens, 400, {
      limit: limits.maxTokens,
    });
  while (i < n) {
    const c = source.charCodeAt(i);
    if (c === 0x23) {
      // comment to the end of the line
      while (i < n && source.charCodeAt(i) !== 0x0a && source.charCodeAt(i) !== 0x0d) i++;
      continue;
    }
    if (c === 0x22) {
      if (++tokens > limits.maxTokens) return tooMany();
      if (source.startsWith('"""', i)) {
        const end = findBlockStringEnd(source, i + 3);
        i = end < 0 ? n : end + 3;
      } else {
        i++;
        while (i < n) {
          const s = source.charCodeAt(i);
          if (s === 0x5c) i += 2;
          else if (s === 0x22 || s === 0x0a || s === 0x0d) break;
          else i++;
        }
        i++;
      }
      continue;
    }
    if (OPEN.has(c)) {
      if (++depth > limits.maxNesting) {
        return requestError(`The document nests deeper than ${limits.maxNesting} levels.`, LIMIT_CODES.depth, 400, {
          limit: limits.maxNesting,
        });
      }
    } else if (CLOSE.has(c)) {
      depth = Math.max(0, depth - 1);
    }
    if (PUNCTUATOR.has(c) || (c === 0x2e && source.startsWith("...", i))) {
      if (++tokens > limits.maxTokens) return tooMany();
      i += c === 0x2e ? 3 : 1;
      continue;
    }
    if (isNameChar(c) || c === 0x2d) {
      if (++tokens > limits.maxTokens) return tooMany();
      while (
        i < n &&
        (isNameChar(source.charCodeAt(i)) ||
          source.charCodeAt(i) === 0x2e ||
          source.charCodeAt(i) === 0x2d ||
          source.charCodeAt(i) === 0x2b)
      )
        i++;
      continue;
    }
    i++;
  }
  return undefined;
}

function findBlockStringEnd(source: string, from: number): number {
  let i = from;
  for (;;) {
    const end = source.indexOf('"""', i);
    if (end < 0) return -1;
    if (source.charCodeAt(end - 1) === 0x5c) {
      i = end + 3;
      continue;
    }
    return end;
  }
}

/** The deepest nesting of a JSON text (strings skipped), stopping past `max`. */
export function jsonNestingExceeds(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c) i++;
        else if (s === 0x22) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}

/** The first string (keys included) in a parsed JSON value that the kit's textProblem refuses, with its path. */
export function findBadText(value: unknown, root: string): { path: string; problem: string } | undefined {
  const stack: Array<[unknown, string]> = [[value, root]];
  while (stack.length > 0) {
    const [v, path] = stack.pop() as [unknown, string];
    if (typeof v === "string") {
      const problem = textProblem(v);
      if (problem) return { path, problem };
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => {
        stack.push([item, `${path}[${i}]`]);
      });
    } else if (typeof v === "object" && v !== null) {
      for (const [key, item] of Object.entries(v)) {
        const problem = textProblem(key);
        if (problem) return { path: `${path} key`, problem };
        stack.push([item, `${path}.${key}`]);
      }
    }
  }
  return undefined;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
const JSON_MEDIA = /^application\/json$/i;

function mediaType(header: string | null): { type: string; charset: string | undefined } {
  const [type = "", ...params] = (header ?? "").split(";");
  const charset = params
    .map((p) => p.trim().split("="))
    .find(([k]) => k?.trim().toLowerCase() === "charset")?.[1]
    ?.trim()
    .replace(/^"|"$/g, "")
    .toLowerCase();
  return { type: type.trim().toLowerCase(), charset };
}

/**
 * The request checks in front of yoga's own parsing, one place for every operation:
 * - POST bodies must be `application/json` in UTF-8 (415 `UNSUPPORTED_MEDIA_TYPE` otherwise:
 *   text/plain, forms, multipart uploads, other charsets), not empty, valid UTF-8 and valid JSON
 *   at most `maxNesting` deep (400 `BAD_REQUEST`);
 * - no string anywhere in the body (variables, their keys, extensions) may hold NUL or a lone
 *   surrogate (400 `BAD_USER_INPUT`, `extensions.path` names it);
 * - the document (POST or GET) is scanned before it is parsed (400 `DEPTH_LIMIT_EXCEEDED` /
 *   `TOKEN_LIMIT_EXCEEDED`).
 * Every refusal is a GraphQL response (`{ errors: [{ message, extensions: { code } }] }`).
 */
export function useRequestChecks(limits: DocumentLimits = DOCUMENT_LIMITS): Plugin<GatewayContext> {
  return {
    onRequestParse({ request, setRequestParser }) {
      if (request.method !== "POST") return;
      setRequestParser(async (req) => {
        const { type, charset } = mediaType(req.headers.get("content-type"));
        if (!JSON_MEDIA.test(type) || (charset !== undefined && charset !== "utf-8" && charset !== "utf8")) {
          throw requestError(
            "Send the operation as application/json (UTF-8): { query, variables, operationName }.",
            REQUEST_CODES.unsupportedMediaType,
            415,
          );
        }
        const bytes = new Uint8Array(await req.arrayBuffer());
        if (bytes.byteLength === 0) throw requestError("The request body is empty.", REQUEST_CODES.badRequest, 400);
        let text: string;
        try {
          text = strictUtf8.decode(bytes);
        } catch {
          throw requestError("The request body is not valid UTF-8.", REQUEST_CODES.badRequest, 400);
        }
        if (jsonNestingExceeds(text, limits.maxNesting)) {
          throw requestError(
            `The request body nests deeper than ${limits.maxNesting} levels.`,
            LIMIT_CODES.depth,
            400,
            {
              limit: limits.maxNesting,
            },
          );
        }
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          throw requestError("The request body is not valid JSON.", REQUEST_CODES.badRequest, 400);
        }
        if (typeof body !== "object" || body === null || Array.isArray(body)) {
          throw requestError(
            "The request body must be a JSON object: { query, variables, operationName }.",
            REQUEST_CODES.badRequest,
            400,
          );
        }
        const bad = findBadText(body, "body");
        if (bad) {
          throw requestError(`${bad.path.replace(/^body\./, "")} ${bad.problem}.`, REQUEST_CODES.badUserInput, 400, {
            path: bad.path.replace(/^body\./, ""),
          });
        }
        return body as never;
      });
    },
    onParams({ params }) {
      if (typeof params.query !== "string") return;
      const refusal = scanDocument(params.query, limits);
      if (refusal) throw refusal;
    },
  };
}
