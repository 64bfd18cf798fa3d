/**
 * Framework-level refusals at the REST edge, on every registered route: each answers RFC 9457
 * problem+json with the edge's own types, never a 500, a bare Fastify body or silently altered data.
 */
import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NOT_FOUND_DETAIL, problemType } from "../src/problems.ts";
import { ALL_SCOPES, problemOf, startEdge, type TestEdge } from "./support.ts";

let edge: TestEdge;
let app: FastifyInstance;
let key: string;

beforeAll(async () => {
  edge = await startEdge("rest-protocol");
  app = edge.app;
  key = (await (await edge.platform.seed.tenant()).apiKey("admin", ALL_SCOPES)).key;
}, 180_000);

afterAll(async () => {
  await edge?.close();
});

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;
const UNKNOWN_ID = "0b6f1c5e-8a8e-4c1c-9d55-3c1f6a0e2b7d";
const NOT_FOUND_BODY = {
  type: problemType("not-found"),
  title: "Not found",
  status: 404,
  detail: NOT_FOUND_DETAIL,
};

/** Every route the edge registered (its own inventory), with a concrete URL. */
function routes() {
  return app.registeredRoutes.map((r) => ({ ...r, path: fill(r.url, () => UNKNOWN_ID) }));
}

function fill(url: string, value: (name: string) => string): string {
  return url.replace(/:([A-Za-z]+)/g, (_, name: string) => value(name));
}

type Method = (typeof METHODS)[number];

function inject(method: Method, url: string, headers: Record<string, string> = {}, payload?: string | Buffer) {
  return app.inject({
    method,
    url,
    headers: { "x-api-key": key, ...headers },
    ...(payload !== undefined && { payload }),
  });
}

/** Request bodies of the OpenAPI document: route → its body's top-level properties and their types. */
async function bodySchemas(): Promise<Map<string, Record<string, { type?: string; items?: { type?: string } }>>> {
  const doc = (await app.inject({ method: "GET", url: "/v1/openapi.json" })).json() as {
    paths: Record<
      string,
      Record<string, { requestBody?: { content?: Record<string, { schema?: { properties?: object } }> } }>
    >;
  };
  const out = new Map<string, Record<string, { type?: string; items?: { type?: string } }>>();
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const content = op.requestBody?.content ?? {};
      const schema = Object.values(content)[0]?.schema;
      if (schema?.properties)
        out.set(`${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ":$1")}`, schema.properties as never);
    }
  }
  return out;
}

describe("the REST edge's protocol-level refusals, on every registered route", () => {
  it("has routes to check", () => {
    // a loop over nothing proves nothing
    expect(routes().filter((r) => r.url.startsWith("/v1/")).length).toBeGreaterThan(20);
  });

  it("a method the route does not serve: 405 with Allow listing the methods it does", async () => {
    let checked = 0;
    for (const route of routes()) {
      const served = app.registeredRoutes.filter((r) => r.url === route.url).map((r) => r.method);
      for (const method of METHODS.filter((m) => !served.includes(m))) {
        const res = await inject(method, route.path, { "content-type": "application/json" }, "{}");
        // another pattern may serve this concrete path with this method (a static route beside a parameter)
        if (res.statusCode !== 405) {
          expect(res.statusCode, `${method} ${route.path}: ${res.body}`).not.toBe(500);
          continue;
        }
        const p = problemOf(res);
        expect(p.type).toBe(problemType("method-not-allowed"));
        const allow = String(res.headers.allow).split(", ");
        for (const m of served) expect(allow, `${method} ${route.url}`).toContain(m);
        expect(allow).not.toContain(method);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
  });

  it("a path parameter too long to be an id: the 404 an unknown id gets", async () => {
    let checked = 0;
    for (const route of routes()) {
      if (!route.url.includes(":")) continue;
      const res = await inject(
        route.method as Method,
        fill(route.url, () => "a".repeat(500)),
      );
      expect(res.statusCode, `${route.method} ${route.url}`).toBe(404);
      expect(problemOf(res)).toEqual(NOT_FOUND_BODY);
      checked++;
    }
    expect(checked).toBeGreaterThan(5);
    // and that is what an unknown id gets
    const unknown = await inject("GET", `/v1/projects/${UNKNOWN_ID}`);
    expect(problemOf(unknown)).toEqual(NOT_FOUND_BODY);
  });

  it("malformed URL encoding (%zz, overlong UTF-8) in the path: the same 404, never a Fastify body", async () => {
    let checked = 0;
    for (const route of routes()) {
      for (const bad of ["%zz", "%C0%AF", "%E0%80%AF", "%ED%A0%80"]) {
        const url = route.url.includes(":") ? fill(route.url, () => bad) : `${route.path}${bad}`;
        const res = await inject(route.method as Method, url);
        expect(res.statusCode, `${route.method} ${url}: ${res.body}`).toBe(404);
        // a HEAD answer has no body, only the headers of the GET one
        if (route.method !== "HEAD") expect(problemOf(res)).toEqual(NOT_FOUND_BODY);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
  });

  const withBody = () => routes().filter((r) => ["POST", "PUT", "PATCH"].includes(r.method) && r.meta?.auth);

  const bodyClasses: Array<{
    name: string;
    headers: Record<string, string>;
    payload: string | Buffer;
    status: number;
    type: Parameters<typeof problemType>[0];
  }> = [
    {
      name: "text/plain",
      headers: { "content-type": "text/plain" },
      payload: "{}",
      status: 415,
      type: "unsupported-media-type",
    },
    {
      name: "form-encoded",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: "a=b",
      status: 415,
      type: "unsupported-media-type",
    },
    {
      name: "multipart",
      headers: { "content-type": "multipart/form-data; boundary=x" },
      payload: "--x--\r\n",
      status: 415,
      type: "unsupported-media-type",
    },
    {
      name: "JSON in another charset",
      headers: { "content-type": "application/json; charset=iso-8859-1" },
      payload: "{}",
      status: 415,
      type: "unsupported-media-type",
    },
    {
      name: "Content-Encoding gzip",
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      payload: Buffer.from([0x1f, 0x8b, 0x08, 0x00]),
      status: 415,
      type: "unsupported-media-type",
    },
    {
      name: "invalid JSON",
      headers: { "content-type": "application/json" },
      payload: '{"a":',
      status: 400,
      type: "invalid-request",
    },
    {
      name: "hex number",
      headers: { "content-type": "application/json" },
      payload: '{"a":0x10}',
      status: 400,
      type: "invalid-request",
    },
    {
      name: "empty body",
      headers: { "content-type": "application/json" },
      payload: "",
      status: 400,
      type: "invalid-request",
    },
    {
      name: "invalid UTF-8",
      headers: { "content-type": "application/json" },
      payload: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]),
      status: 400,
      type: "invalid-request",
    },
    {
      name: "overlong UTF-8",
      headers: { "content-type": "application/json" },
      payload: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d]),
      status: 400,
      type: "invalid-request",
    },
  ];
  for (const c of bodyClasses) {
    it(`${c.name}: ${c.status} ${c.type}, on every route that takes a body`, async () => {
      const targets = withBody();
      expect(targets.length).toBeGreaterThan(5);
      for (const route of targets) {
        const method =
          route.method === "PATCH" && c.headers["content-type"] === "application/json" ? "PATCH" : route.method;
        const res = await inject(method as Method, route.path, c.headers, c.payload);
        expect(res.statusCode, `${route.method} ${route.url}: ${res.body}`).toBe(c.status);
        expect(problemOf(res).type).toBe(problemType(c.type));
      }
    });
  }

  for (const [name, text] of [
    ["NUL", "a\\u0000b"],
    ["a lone surrogate", "a\\ud800b"],
  ] as const) {
    it(`${name} in any string field of any body: 400 naming the field`, async () => {
      const schemas = await bodySchemas();
      let checked = 0;
      for (const route of withBody()) {
        const properties = schemas.get(`${route.method} ${route.url}`) ?? {};
        for (const [field, schema] of Object.entries(properties)) {
          const isString = schema.type === "string";
          const isStrings = schema.type === "array" && schema.items?.type === "string";
          if (!isString && !isStrings) continue;
          const value = isString ? `"${text}"` : `["ok","${text}"]`;
          const contentType = route.method === "PATCH" ? "application/merge-patch+json" : "application/json";
          const res = await inject(
            route.method as Method,
            route.path,
            { "content-type": contentType },
            `{"${field}":${value}}`,
          );
          expect(res.statusCode, `${route.method} ${route.url} ${field}: ${res.body}`).toBe(400);
          const fields = (problemOf(res).errors ?? []).map((e) => e.field);
          expect(fields, `${route.method} ${route.url}`).toContain(isString ? field : `${field}[1]`);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(10);
    });
  }

  it("numbers: 1e3 is exactly 1000 for the schema to judge; digits JSON cannot keep exactly are 400, never rounded", async () => {
    const schemas = await bodySchemas();
    let checked = 0;
    for (const route of withBody()) {
      for (const [field, schema] of Object.entries(schemas.get(`${route.method} ${route.url}`) ?? {})) {
        if (schema.type !== "integer" && schema.type !== "number") continue;
        const contentType = route.method === "PATCH" ? "application/merge-patch+json" : "application/json";
        for (const literal of ["9007199254740993", "1e400", "-1e400"]) {
          const res = await inject(
            route.method as Method,
            route.path,
            { "content-type": contentType },
            `{"${field}":${literal}}`,
          );
          expect(res.statusCode, `${route.url} ${field}=${literal}`).toBe(400);
          expect((problemOf(res).errors ?? []).map((e) => e.field)).toContain(field);
        }
        const exact = await inject(
          route.method as Method,
          route.path,
          { "content-type": contentType },
          `{"${field}":1e3}`,
        );
        expect(exact.statusCode).not.toBe(500);
        // whatever else is wrong with the body, 1e3 itself is not reported as malformed JSON
        if (exact.statusCode === 400) expect(problemOf(exact).detail).not.toMatch(/not valid JSON/);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it("oversized headers: 431 with a problem+json body, from Node's own limit", async () => {
    await app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = app.server.address() as AddressInfo;
    const res = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      const req = httpRequest(
        { host: "127.0.0.1", port, path: "/v1/projects", headers: { "x-filler": "a".repeat(20_000) } },
        (r) => {
          let body = "";
          r.on("data", (c: Buffer) => {
            body += c.toString();
          });
          r.on("end", () => resolve({ status: r.statusCode ?? 0, type: String(r.headers["content-type"]), body }));
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(res.status).toBe(431);
    expect(res.type).toBe("application/problem+json");
    expect(JSON.parse(res.body)).toMatchObject({ type: problemType("headers-too-large"), status: 431 });
  });
});
