import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { runWithContext } from "@tessera/platform/context";
import type { IdentityDeps } from "../domain/deps.ts";
import { verifyScimToken } from "../domain/scim-tokens.ts";
import { asScimError, badRequest, errorBody, ScimError } from "./errors.ts";
import { handleGroups } from "./groups.ts";
import { requireCleanStrings, requireCleanText } from "./resource.ts";
import { discovery } from "./schemas.ts";
import { handleUsers } from "./users.ts";

/** Where SCIM is served on identity's HTTP port. */
export const SCIM_PATH = "/scim/v2";

/** Request bodies larger than this are refused (413) before they are parsed. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** One authenticated SCIM request, for the resource handlers. */
export interface ScimRequest {
  deps: IdentityDeps;
  /** The SCIM token's tenant: never taken from the URL or the body. */
  tenantId: string;
  /** The absolute base URL, `…/scim/v2`, for locations and references. */
  base: string;
  method: string;
  id: string | undefined;
  params: URLSearchParams;
  headers: Record<string, string | undefined>;
  body: unknown;
}

/** What a handler answers. */
export interface ScimResponse {
  status: number;
  body?: unknown;
  location?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const JSON_TYPES = new Set(["application/scim+json", "application/json"]);
const utf8 = new TextDecoder("utf-8", { fatal: true });

function baseUrl(req: IncomingMessage): string {
  const header = (name: string) => {
    const v = req.headers[name];
    return (Array.isArray(v) ? v[0] : v)?.split(",")[0]?.trim();
  };
  const proto = header("x-forwarded-proto") === "https" ? "https" : "http";
  const host = header("x-forwarded-host") ?? header("host") ?? "";
  return `${proto}://${/^[A-Za-z0-9.:[\]-]{1,255}$/.test(host) ? host : "localhost"}${SCIM_PATH}`;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers["content-type"] ?? "").toLowerCase();
  const [mime = "", ...params] = type.split(";").map((s) => s.trim());
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_BODY_BYTES)
    throw new ScimError(413, `the body is larger than ${MAX_BODY_BYTES} bytes`, "invalidValue");
  if (!JSON_TYPES.has(mime)) {
    throw new ScimError(415, "the body must be application/scim+json (or application/json)", "invalidSyntax");
  }
  const charset = params
    .find((p) => p.startsWith("charset="))
    ?.slice(8)
    .replace(/"/g, "");
  if (charset && charset !== "utf-8" && charset !== "utf8")
    throw new ScimError(415, "the body must be UTF-8", "invalidSyntax");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new ScimError(413, `the body is larger than ${MAX_BODY_BYTES} bytes`, "invalidValue");
    chunks.push(chunk as Buffer);
  }
  let text: string;
  try {
    text = utf8.decode(Buffer.concat(chunks));
  } catch {
    throw badRequest("invalidSyntax", "the body is not valid UTF-8");
  }
  if (text.trim() === "") throw badRequest("invalidSyntax", "the body is empty");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw badRequest("invalidSyntax", "the body is not valid JSON");
  }
  requireCleanStrings(body);
  return body;
}

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const version = (body as { meta?: { version?: unknown } } | undefined)?.meta?.version;
  res.writeHead(status, {
    ...(body !== undefined && { "content-type": "application/scim+json; charset=utf-8" }),
    ...(typeof version === "string" && { etag: version }),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

/** Emails out of a message before it is logged (database errors may quote values). */
const scrub = (message: string) => message.replace(/[^\s@"'()=]+@[^\s@"'()=]+/g, "[email]").slice(0, 500);

/**
 * The `/scim/v2` handler: authenticates the tenant's SCIM token, reads and checks the body (size,
 * content type, UTF-8, JSON, no control characters), runs the resource handler in the token's
 * tenant with the principal `scim:<token id>` (the actor of every event it causes), and answers
 * SCIM JSON or a SCIM Error. Logs one line per request: route, status, duration, token id.
 */
export function createScimHandler(deps: IdentityDeps) {
  const log = deps.logger.child({ component: "scim" });
  return (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const url = new URL(req.url ?? "/", "http://scim.invalid");
    const segments = url.pathname.slice(SCIM_PATH.length).split("/").filter(Boolean);
    const route = `/${segments[0] ?? ""}${segments.length > 1 ? "/{id}" : ""}`;
    const method = req.method ?? "GET";
    let tokenId: string | undefined;
    let tenantId: string | undefined;
    const finish = (status: number, err?: unknown) => {
      const fields = {
        method,
        route,
        status,
        duration_ms: Math.round(performance.now() - started),
        ...(tokenId && { scim_token_id: tokenId }),
      };
      const write = () => {
        if (status >= 500) {
          const e = err as { name?: string; message?: string; code?: string };
          log.error(
            { ...fields, err_name: e?.name, err_code: e?.code, err_message: scrub(String(e?.message)) },
            "SCIM request failed",
          );
        } else log.info(fields, "SCIM request");
      };
      if (tenantId) runWithContext({ tenantId }, write);
      else write();
    };
    const run = async (): Promise<void> => {
      const auth = req.headers.authorization ?? "";
      const presented = /^Bearer\s+(\S+)$/i.exec(auth)?.[1] ?? "";
      const check = await verifyScimToken(deps, presented);
      if (!check.ok) {
        if (check.reason === "tenant_inactive") throw new ScimError(403, "the tenant is not active");
        throw new ScimError(401, "a valid SCIM token is required");
      }
      tokenId = check.token.id;
      tenantId = check.token.tenantId;
      const filter = url.searchParams.get("filter");
      if (filter !== null) {
        try {
          requireCleanText(filter, "filter");
        } catch {
          throw badRequest("invalidFilter", "the filter holds control characters");
        }
      }
      const writes = method === "POST" || method === "PUT" || method === "PATCH";
      const body = writes && (segments[0] === "Users" || segments[0] === "Groups") ? await readBody(req) : undefined;
      const id = segments[1];
      const base = baseUrl(req);
      const scimReq: ScimRequest = {
        deps,
        tenantId,
        base,
        method,
        id,
        params: url.searchParams,
        headers: { "if-match": req.headers["if-match"], "if-none-match": req.headers["if-none-match"] },
        body,
      };
      const principal = {
        subject: `scim:${tokenId}`,
        kind: "service" as const,
        roles: ["scim"],
        scopes: [],
        actorChain: [],
      };
      const answer = await runWithContext({ tenantId, principal, token: undefined, requestId: randomUUID() }, () =>
        dispatch(scimReq, segments),
      );
      const version = (answer.body as { meta?: { version?: string } } | undefined)?.meta?.version;
      const noneMatch = req.headers["if-none-match"];
      if (method === "GET" && version && noneMatch?.split(",").some((t) => t.trim() === version)) {
        send(res, 304, undefined, { etag: version });
        finish(304);
        return;
      }
      send(res, answer.status, answer.body, answer.location ? { location: answer.location } : {});
      finish(answer.status);
    };
    run().catch((err: unknown) => {
      const known = asScimError(err);
      const status = known?.status ?? 500;
      const scimErr = known ?? new ScimError(500, "internal error");
      const headers: Record<string, string> = {};
      if (status === 401) headers["www-authenticate"] = 'Bearer realm="scim"';
      if (status === 413) headers.connection = "close";
      send(res, status, errorBody(scimErr), headers);
      finish(status, err);
    });
  };
}

const SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/** A POST …/.search body (RFC 7644 §3.4.3) as the query parameters of the equivalent GET. */
function searchParams(body: unknown): URLSearchParams {
  const b = body as Record<string, unknown>;
  if (!b || typeof b !== "object" || !Array.isArray(b.schemas) || !b.schemas.includes(SEARCH_SCHEMA)) {
    throw badRequest("invalidSyntax", `a search body needs schemas [${SEARCH_SCHEMA}]`);
  }
  const params = new URLSearchParams();
  for (const key of ["filter", "startIndex", "count"]) {
    const v = b[key];
    if (typeof v === "string" || typeof v === "number") params.set(key, String(v));
    else if (v !== undefined && v !== null) throw badRequest("invalidValue", `${key} must be a string or number`);
  }
  for (const key of ["attributes", "excludedAttributes"]) {
    const v = b[key];
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) params.set(key, v.join(","));
    else if (typeof v === "string") params.set(key, v);
    else if (v !== undefined && v !== null) throw badRequest("invalidValue", `${key} must be a list of names`);
  }
  return params;
}

function dispatch(req: ScimRequest, segments: string[]): Promise<ScimResponse> {
  const [collection, id, ...rest] = segments;
  if (rest.length > 0) throw new ScimError(404, "no such endpoint");
  const docs = discovery(req.base);
  const readOnly = (body: unknown): ScimResponse => {
    if (req.method !== "GET") throw new ScimError(405, "discovery endpoints are read-only");
    return { status: 200, body };
  };
  const list = (items: Array<{ id?: string }>) =>
    id === undefined
      ? {
          schemas: ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
          totalResults: items.length,
          startIndex: 1,
          itemsPerPage: items.length,
          Resources: items,
        }
      : (items.find((i) => i.id === id) ??
        (() => {
          throw new ScimError(404, `no ${collection} ${id.slice(0, 100)}`);
        })());
  switch (collection) {
    case "Users":
    case "Groups": {
      if (id === ".search" && req.method === "POST") {
        const search = { ...req, method: "GET", id: undefined, params: searchParams(req.body) };
        return collection === "Users" ? handleUsers(search) : handleGroups(search);
      }
      if (id !== undefined && !UUID.test(id)) throw new ScimError(404, `${collection.slice(0, -1)} not found`);
      const scoped = { ...req, id: id?.toLowerCase() };
      return collection === "Users" ? handleUsers(scoped) : handleGroups(scoped);
    }
    case "ServiceProviderConfig":
      if (id !== undefined) throw new ScimError(404, "no such endpoint");
      return Promise.resolve(readOnly(docs.serviceProviderConfig));
    case "ResourceTypes":
      return Promise.resolve(readOnly(list(docs.resourceTypes)));
    case "Schemas":
      return Promise.resolve(readOnly(list(docs.schemas)));
    case "Bulk":
      throw new ScimError(501, "bulk operations are not supported");
    case ".search":
      throw new ScimError(501, "search one resource type at a time: POST /Users/.search or /Groups/.search");
    default:
      throw new ScimError(404, "no such endpoint");
  }
}
