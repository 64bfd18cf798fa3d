import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";
import { jsonSchemaTransform, jsonSchemaTransformObject } from "fastify-type-provider-zod";
import type { VersionLifecycle } from "./versions.ts";

/** Where the OpenAPI document and its rendered page are served. */
export const OPENAPI_PATH = "/v1/openapi.json";
export const DOCS_PATH = "/v1/docs";

type Json = Record<string, unknown>;

const header = (description: string, schema: Json = { type: "string" }) => ({ description, schema });

const HEADERS: Json = {
  ETag: header('Strong validator of the resource version, `"v<version>"`: send as If-None-Match or If-Match'),
  Location: header("URL of the created resource"),
  "Idempotent-Replayed": header("`true` when the response is the replay of an earlier request with the same key"),
  "RateLimit-Limit": header("Requests the tenant's plan allows per window", { type: "integer" }),
  "RateLimit-Remaining": header("Requests left in the current window", { type: "integer" }),
  "RateLimit-Reset": header("Seconds until the window resets", { type: "integer" }),
  "RateLimit-Policy": header("The quota and window, e.g. `600;w=60`"),
  "Retry-After": header("Seconds to wait before retrying", { type: "integer" }),
  Deprecation: header("RFC 9745: when this API version was deprecated (`@<unix seconds>`)"),
  Sunset: header("RFC 8594: when this API version stops being served (HTTP-date)"),
};

const ref = (name: string) => ({ $ref: `#/components/headers/${name}` });
const RATE_HEADERS = ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"];

const SUCCESS_TEXT: Record<string, string> = { "200": "OK", "201": "Created", "204": "No content" };

function addHeaders(response: unknown, names: string[]): void {
  if (!response || typeof response !== "object") return;
  const r = response as Json;
  const headers = (r.headers as Json | undefined) ?? {};
  for (const name of names) headers[name] = ref(name);
  if (Object.keys(headers).length > 0) r.headers = headers;
  else delete r.headers;
}

/** Drops component schemas nothing refers to (the generator emits an input twin of each output schema). */
function dropUnreferencedSchemas(doc: Json): void {
  const schemas = (doc.components as Json | undefined)?.schemas as Json | undefined;
  if (!schemas) return;
  for (;;) {
    const text = JSON.stringify({ ...doc, components: { ...(doc.components as Json), schemas: {} } });
    const inSchemas = JSON.stringify(schemas);
    const unused = Object.keys(schemas).filter((name) => {
      const pointer = `"#/components/schemas/${name}"`;
      const selfRefs = JSON.stringify(schemas[name]).split(pointer).length - 1;
      return !text.includes(pointer) && inSchemas.split(pointer).length - 1 === selfRefs;
    });
    if (unused.length === 0) return;
    for (const name of unused) delete schemas[name];
  }
}

/**
 * Completes the generated document with what route schemas cannot say: the headers of
 * responses (ETag, Location, RateLimit, Retry-After, Idempotent-Replayed, Deprecation/Sunset),
 * 304 answers of conditional reads, and deprecation of retired versions.
 */
function finishDocument(doc: Json, lifecycle: VersionLifecycle | undefined): Json {
  const paths = (doc.paths ?? {}) as Record<string, Record<string, Json>>;
  const retiring = lifecycle?.deprecatedAt !== undefined || lifecycle?.sunsetAt !== undefined;
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item)) {
      const responses = (op.responses ?? {}) as Record<string, Json>;
      for (const [status, response] of Object.entries(responses)) {
        const code = Number(status);
        if (response.description === "Default Response" && SUCCESS_TEXT[status])
          response.description = SUCCESS_TEXT[status];
        const names: string[] = [];
        if (code < 400 || code === 429) names.push(...RATE_HEADERS);
        if (code === 429 || code === 409 || code === 503) names.push("Retry-After");
        if (code >= 200 && code < 300 && method !== "delete") names.push("ETag");
        if (code === 201) names.push("Location");
        if (op["x-tessera-idempotent"] === true && code < 500) names.push("Idempotent-Replayed");
        if (retiring) names.push("Deprecation", "Sunset");
        addHeaders(response, names);
      }
      if (op["x-tessera-etag"] === true) {
        responses["304"] = { description: "Not modified: If-None-Match names the current version", headers: {} };
        addHeaders(responses["304"], ["ETag", ...RATE_HEADERS]);
      }
      if (lifecycle?.deprecatedAt && path.startsWith("/v1/")) op.deprecated = true;
      delete op["x-tessera-etag"];
      delete op["x-tessera-idempotent"];
    }
  }
  const components = (doc.components ?? {}) as Json;
  components.headers = HEADERS;
  doc.components = components;
  dropUnreferencedSchemas(doc);
  return doc;
}

const SECURITY_SCHEMES = {
  ApiKey: {
    type: "apiKey" as const,
    in: "header",
    name: "X-Api-Key",
    description:
      "A tenant API key (`tsk_live_…`). Operations list the scope they need: a key acts only where its role grants the permission and its scopes include it.",
  },
  Bearer: {
    type: "http" as const,
    scheme: "bearer",
    description: "`Authorization: Bearer <API key>`, or a user access token from sign-in (the user's role applies)",
  },
};

/** The OpenAPI security requirement of an operation that needs `permission` (an API-key scope). */
export function requiresScope(permission: string): Array<Record<string, string[]>> {
  return [{ ApiKey: [permission] }, { Bearer: [permission] }];
}

/** Options of {@link registerOpenApi}. */
export interface OpenApiOptions {
  readonly version: string;
  readonly publicBaseUrl?: string | undefined;
  readonly v1?: VersionLifecycle | undefined;
}

/**
 * OpenAPI 3.1 generated from the route schemas (zod → JSON Schema 2020-12), served at
 * `/v1/openapi.json`, and rendered at `/v1/docs` by Swagger UI from files the package ships
 * (nothing is loaded from the internet). Register before the routes.
 */
export async function registerOpenApi(app: FastifyInstance, options: OpenApiOptions): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Tessera REST API",
        version: options.version,
        description:
          "The partner API of Tessera. Authenticate with a tenant API key; errors are RFC 9457 problem+json; lists use cursor pagination; POSTs accept Idempotency-Key; reads return ETags.",
      },
      ...(options.publicBaseUrl ? { servers: [{ url: options.publicBaseUrl }] } : {}),
      components: { securitySchemes: SECURITY_SCHEMES },
      security: [{ ApiKey: [] }, { Bearer: [] }],
      tags: [
        { name: "projects", description: "A tenant's projects" },
        { name: "tasks", description: "Tasks of a project" },
        { name: "comments", description: "Comments on a task" },
        {
          name: "audit",
          description: "The tenant's hash-chained audit log (tenant owners/admins; API keys need audit.read)",
        },
      ],
    },
    transform: (input) => {
      const out = jsonSchemaTransform(input);
      const meta = input.route.config as { tessera?: { idempotent?: boolean } } | undefined;
      if (meta?.tessera?.idempotent && out.schema && !out.schema.hide) {
        (out.schema as Json)["x-tessera-idempotent"] = true;
      }
      return out;
    },
    transformObject: (input) => finishDocument(jsonSchemaTransformObject(input) as Json, options.v1) as never,
  });
  await app.register(fastifySwaggerUi, {
    routePrefix: DOCS_PATH,
    validatorUrl: false,
    uiConfig: { deepLinking: true, displayRequestDuration: true },
    staticCSP: true,
  });
  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());
}
