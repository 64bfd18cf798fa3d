import { validate } from "@readme/openapi-parser";
import { createLogger } from "@tessera/platform/log";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "../src/server.ts";

type Operation = {
  operationId?: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ in: string; name: string }>;
  responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, unknown> }>;
};

describe("OpenAPI and the docs page", () => {
  let app: FastifyInstance;
  let doc: {
    openapi: string;
    paths: Record<string, Record<string, Operation>>;
    components: Record<string, Record<string, unknown>>;
  };

  beforeAll(async () => {
    // no request here reaches identity or projects: the document and the docs page are public
    app = await build({
      logger: createLogger({ service: "rest-gateway", level: "silent" }),
      exchanger: {
        internalToken: () => Promise.reject(new Error("not used")),
        stats: () => ({ exchanges: 0, reused: 0, evicted: 0 }),
        close: async () => {},
      },
      projectsUrl: "http://127.0.0.1:9",
      idempotency: { begin: () => Promise.reject(new Error("not used")) },
    });
    const res = await app.inject({ method: "GET", url: "/v1/openapi.json" });
    expect(res.statusCode).toBe(200);
    doc = res.json();
  });

  afterAll(async () => {
    await app?.close();
  });

  it("is a valid OpenAPI 3.1 document", async () => {
    expect(doc.openapi).toBe("3.1.0");
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid ? [] : result.errors).toEqual([]);
  });

  it("has every route Fastify serves, and nothing else", () => {
    const toPath = (url: string) => url.replace(/:(\w+)/g, "{$1}");
    const visible = app.registeredRoutes.filter((r) => !r.hidden);
    expect(visible.length).toBeGreaterThanOrEqual(13);
    for (const route of visible) {
      const op = doc.paths[toPath(route.url)]?.[route.method.toLowerCase()];
      expect(op, `${route.method} ${route.url}`).toBeDefined();
      expect(route.meta?.auth, `${route.method} ${route.url} must require a credential`).toBe(true);
    }
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((m) => `${m} ${path}`),
    );
    expect(documented.sort()).toEqual(visible.map((r) => `${r.method.toLowerCase()} ${toPath(r.url)}`).sort());
    // the only undocumented routes are the document, the docs page and health
    for (const hidden of app.registeredRoutes.filter((r) => r.hidden)) {
      expect(hidden.url).toMatch(/^(\/v1\/openapi\.json|\/v1\/docs.*|\/healthz|\/sso\/(start|callback))$/);
    }
  });

  it("declares the problem schema, security with each operation's scope, idempotency and ETag headers", () => {
    expect(Object.keys(doc.components.schemas ?? {})).toEqual(
      expect.arrayContaining([
        "Problem",
        "Project",
        "Task",
        "Comment",
        "Member",
        "Invitation",
        "ApiKey",
        "Session",
        "MfaPolicy",
        "ScimToken",
        "ScimGroupMapping",
        "SsoConnection",
      ]),
    );
    expect(Object.keys(doc.components.securitySchemes ?? {}).sort()).toEqual(["ApiKey", "Bearer"]);
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const where = `${method} ${path}`;
        expect(op.operationId, where).toBeTruthy();
        expect(op.security?.[0]?.ApiKey?.[0], where).toMatch(
          /^((projects|tasks|comments|audit)\.(read|write|archive)|identity\.(members\.(read|manage)|invitations\.manage|api_keys\.manage|scim\.manage|mfa_policy\.manage|sso\.manage))$/,
        );
        expect(op.responses["401"]?.content?.["application/problem+json"], where).toBeDefined();
        expect(op.responses["429"]?.headers?.["Retry-After"], where).toBeDefined();
        const params = (op.parameters ?? []).map((p) => `${p.in}:${p.name}`);
        if (method === "post") {
          expect(params, where).toContain("header:idempotency-key");
          expect(op.responses["422"], where).toBeDefined();
        }
        if (method === "get" && path.endsWith("Id}")) {
          expect(params, where).toContain("header:if-none-match");
          expect(op.responses["200"]?.headers?.ETag, where).toBeDefined();
          expect(op.responses["304"], where).toBeDefined();
        }
        // members carry no version in identity's contract: no ETag, no If-Match
        if (method === "patch" && path !== "/v1/members/{userId}") expect(params, where).toContain("header:if-match");
      }
    }
    expect(doc.paths["/v1/projects/{projectId}"]?.delete?.security?.[0]?.ApiKey).toEqual(["projects.archive"]);
  });

  it("renders a docs page from files it serves itself, loading nothing from the internet", async () => {
    const page = await app.inject({ method: "GET", url: "/v1/docs/" });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toContain("text/html");
    const refs = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
    expect(refs.length).toBeGreaterThan(2);
    for (const ref of refs) {
      expect(ref, ref).not.toMatch(/^(https?:)?\/\//);
      const asset = await app.inject({ method: "GET", url: new URL(ref, "http://edge.test/v1/docs/").pathname });
      expect(asset.statusCode, ref).toBe(200);
    }
    const init = await app.inject({ method: "GET", url: "/v1/docs/static/swagger-initializer.js" });
    // code only: the logo is an inline data: URI (its SVG namespaces are names, not loads); comments may cite pages
    const code = init.body.replace(/data:[^'"]*/g, "").replace(/^\s*\/\/.*$/gm, "");
    expect(code).not.toMatch(/https?:\/\//);
  });
});
