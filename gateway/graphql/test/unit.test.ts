import type { IncomingMessage } from "node:http";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { parseConfig } from "@tessera/platform/config";
import { QuotaExceeded, toConnectError } from "@tessera/platform/errors";
import { createLogger } from "@tessera/platform/log";
import { BadRequestSchema } from "@tessera/proto/google/rpc/error_details_pb";
import { captureLogs } from "@tessera/test/harness";
import { parse } from "graphql";
import { describe, expect, it } from "vitest";
import { isPublicOperation } from "../src/auth-gate.ts";
import { configSchema } from "../src/config.ts";
import { clientIp, type GatewayContext } from "../src/context.ts";
import { InputError, QuotaExceededError, UnauthenticatedError } from "../src/errors/gateway-errors.ts";
import { fromServiceError, gatewayGraphQLError, graphqlFieldPath } from "../src/errors/mapping.ts";
import { createMaskError } from "../src/errors/mask.ts";
import { revalidated } from "../src/events/revalidate.ts";
import { encodeGlobalId, parseGlobalId } from "../src/global-id.ts";
import { GraphQLError, validate } from "../src/graphql.ts";
import { costErrors, maxAliasesRule, type OperationLimits } from "../src/limits.ts";
import { type Connection, decodeCursor, encodeCursor, fetchConnection } from "../src/pagination.ts";
import { gatewaySchema } from "../src/schema/index.ts";

const UUID = "3f0b2a56-8c1d-4e7f-9a2b-1c3d5e7f9a0b";

describe("global ids", () => {
  it("round-trip as base64 of Type:uuid, and anything else is no id at all", () => {
    const id = encodeGlobalId("Project", UUID);
    expect(Buffer.from(id, "base64").toString()).toBe(`Project:${UUID}`);
    expect(parseGlobalId(id, "Project")).toBe(UUID);
    expect(parseGlobalId(encodeGlobalId("Project", UUID.toUpperCase()), "Project")).toBe(UUID);
    expect(parseGlobalId(id, "Task")).toBeUndefined();
    expect(parseGlobalId("not base64!", "Project")).toBeUndefined();
    expect(parseGlobalId(encodeGlobalId("Project", "42"), "Project")).toBeUndefined();
    expect(parseGlobalId("", "Project")).toBeUndefined();
  });
});

describe("connections over page tokens", () => {
  const items = ["a", "b", "c", "d", "e", "f", "g"];
  // a list RPC as services implement it: the token is the index to start at
  const list = async (token: string, size: number) => {
    const start = token === "" ? 0 : Number(token);
    const next = start + size < items.length ? String(start + size) : "";
    return { items: items.slice(start, start + size), nextPageToken: next };
  };
  const limits = { defaultPageSize: 3, maxPageSize: 5 };

  it("pages forward through every item exactly once, from any edge's cursor", async () => {
    const seen: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 10; i++) {
      const page: Connection<string> = await fetchConnection({ first: 2, after }, limits, list);
      seen.push(...page.edges.map((e) => e.node));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toEqual(items);
    const first = await fetchConnection({ first: 3 }, limits, list);
    const fromMiddle = await fetchConnection({ first: 2, after: first.edges[0]?.cursor ?? null }, limits, list);
    expect(fromMiddle.edges.map((e) => e.node)).toEqual(["b", "c"]);
  });

  it("refuses cursors it did not make, and page sizes out of range, as bad input", async () => {
    expect(() => decodeCursor("garbage!")).toThrow(InputError);
    expect(() => decodeCursor(Buffer.from("c1:x:tok").toString("base64url"))).toThrow(InputError);
    expect(decodeCursor(encodeCursor("tok:with:colons", 4))).toEqual({ pageToken: "tok:with:colons", skip: 4 });
    await expect(fetchConnection({ first: 6 }, limits, list)).rejects.toBeInstanceOf(InputError);
    await expect(fetchConnection({ first: -1 }, limits, list)).rejects.toBeInstanceOf(InputError);
  });

  it("answers a token the service refuses exactly like a malformed cursor", async () => {
    const refusing = async () => {
      throw new ConnectError("invalid page token", Code.InvalidArgument);
    };
    const cursor = encodeCursor("someone-elses-token", 0);
    const err = await fetchConnection({ after: cursor }, limits, refusing).catch((e: unknown) => e);
    const garbage = await fetchConnection({ after: "zz" }, limits, list).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect({ ...(err as InputError), message: (err as Error).message }).toEqual({
      ...(garbage as InputError),
      message: (garbage as Error).message,
    });
  });
});

describe("the gRPC → GraphQL error mapping", () => {
  it.each([
    [Code.NotFound, "NOT_FOUND"],
    [Code.InvalidArgument, "BAD_USER_INPUT"],
    [Code.OutOfRange, "BAD_USER_INPUT"],
    [Code.PermissionDenied, "FORBIDDEN"],
    [Code.Unauthenticated, "UNAUTHENTICATED"],
    [Code.AlreadyExists, "CONFLICT"],
    [Code.FailedPrecondition, "CONFLICT"],
    [Code.Aborted, "CONFLICT"],
    [Code.ResourceExhausted, "RATE_LIMITED"],
    [Code.Unavailable, "UNAVAILABLE"],
    [Code.DeadlineExceeded, "UNAVAILABLE"],
  ])("maps %s to %s", (code, expected) => {
    expect((fromServiceError(new ConnectError("x", code)) as { code: string }).code).toBe(expected);
  });

  it("leaves INTERNAL and UNKNOWN unmapped (to be masked), and never tells why authentication failed", () => {
    const internal = new ConnectError("db password wrong", Code.Internal);
    expect(fromServiceError(internal)).toBe(internal);
    expect((fromServiceError(new ConnectError("token expired at …", Code.Unauthenticated)) as Error).message).toBe(
      "Authentication required.",
    );
  });

  it("maps a used-up plan quota (RESOURCE_EXHAUSTED with a QuotaFailure) to QuotaExceededError with quota and limit", () => {
    const connect = toConnectError(new QuotaExceeded("storage_bytes", 4096, "tiny"));
    const mapped = fromServiceError(connect) as QuotaExceededError;
    expect(mapped).toBeInstanceOf(QuotaExceededError);
    expect({ code: mapped.code, quota: mapped.quota, limit: mapped.limit, message: mapped.message }).toEqual({
      code: "QUOTA_EXCEEDED",
      quota: "storage_bytes",
      limit: 4096,
      message: "quota exceeded: storage_bytes (limit 4096 on plan tiny)",
    });
    expect(fromServiceError(new QuotaExceeded("seats", 3))).toBeInstanceOf(QuotaExceededError);
    expect(gatewayGraphQLError(mapped).extensions).toEqual({
      code: "QUOTA_EXCEEDED",
      quota: "storage_bytes",
      limit: 4096,
    });
  });

  it("names invalid fields by their GraphQL names", () => {
    const details = [
      {
        desc: BadRequestSchema,
        value: create(BadRequestSchema, {
          fieldViolations: [
            { field: "due_date", description: "must be YYYY-MM-DD" },
            { field: "page.page_token", description: "bad" },
          ],
        }),
      },
    ];
    const mapped = fromServiceError(new ConnectError("invalid", Code.InvalidArgument, undefined, details));
    expect((mapped as InputError).fieldErrors).toEqual([
      { field: "dueDate", message: "must be YYYY-MM-DD" },
      { field: "after", message: "bad" },
    ]);
    expect(graphqlFieldPath("labels[2]")).toBe("labels[2]");
  });
});

describe("masking", () => {
  it("answers unexpected errors as INTERNAL_SERVER_ERROR, logs them once, and keeps expected ones", () => {
    const logs = captureLogs("graphql-mask-unit");
    const mask = createMaskError(createLogger({ service: "graphql", destination: logs.stream }));
    const unexpected = mask(new GraphQLError("boom", { originalError: new Error("secret detail"), path: ["x"] }));
    expect(unexpected.message).toBe("Unexpected error.");
    expect(unexpected.extensions).toEqual({ code: "INTERNAL_SERVER_ERROR" });
    expect(logs.lines().filter((l) => l.msg === "unexpected error in a GraphQL operation")).toHaveLength(1);
    const notFound = mask(new GraphQLError("x", { originalError: new ConnectError("gone", Code.NotFound) }));
    expect(notFound.extensions.code).toBe("NOT_FOUND");
    const coercion = mask(new GraphQLError('Variable "$n" has invalid value'));
    expect(coercion.extensions.code).toBe("BAD_USER_INPUT");
  });
});

describe("which operations need a credential", () => {
  it("lets only sign-in mutations and introspection through without one", () => {
    expect(isPublicOperation(parse("mutation { login(input: {}) { __typename } }"), undefined)).toBe(true);
    expect(isPublicOperation(parse("{ __typename }"), undefined)).toBe(true);
    expect(
      isPublicOperation(parse("mutation { login(input: {}) { __typename } createProject { x } }"), undefined),
    ).toBe(false);
    expect(isPublicOperation(parse("query { ...F } fragment F on Query { viewer { id } }"), undefined)).toBe(false);
    expect(isPublicOperation(parse("query A { __typename } query B { viewer { id } }"), "B")).toBe(false);
  });
});

describe("operation limits", () => {
  const limits: OperationLimits = { maxDepth: 6, maxAliases: 2, maxComplexity: 300, introspection: false };
  const ctx = { pages: { defaultPageSize: 20, maxPageSize: 100 } } as unknown as GatewayContext;
  const check = (query: string, variables: Record<string, unknown> = {}) =>
    costErrors(gatewaySchema(), parse(query), variables, undefined, ctx, limits).map((e) => e.extensions.code);

  it("prices connections by the page size asked for, variables included", () => {
    expect(check("{ projects(first: 10) { edges { node { id name } } } }")).toEqual([]);
    expect(check("query($n: Int) { projects(first: $n) { edges { node { id name } } } }", { n: 100 })).toEqual([
      "COMPLEXITY_LIMIT_EXCEEDED",
    ]);
    expect(check("query($n: Int) { projects(first: $n) { edges { node { id } } } }", { n: 101 })).toEqual([
      "BAD_USER_INPUT",
    ]);
  });

  it("refuses operations that are too deep", () => {
    const deep = "{ projects(first: 1) { edges { node { tasks(first: 1) { edges { node { assignee { id } } } } } } } }";
    expect(check(deep)).toEqual(["DEPTH_LIMIT_EXCEEDED"]);
  });

  it("refuses more aliases than allowed", () => {
    const errors = validate(gatewaySchema(), parse("{ a: __typename b: __typename c: __typename }"), [
      maxAliasesRule(2),
    ]);
    expect(errors.map((e) => e.extensions.code)).toEqual(["ALIAS_LIMIT_EXCEEDED"]);
  });
});

describe("configuration", () => {
  const base = {
    IDENTITY_URL: "http://127.0.0.1:1",
    TENANCY_URL: "http://127.0.0.1:2",
    PROJECTS_URL: "http://127.0.0.1:3",
    AUDIT_URL: "http://127.0.0.1:5",
    NATS_URL: "nats://127.0.0.1:4",
    SERVICE_CLIENT_ID: "graphql",
    SERVICE_CLIENT_SECRET: "0123456789abcdef0123",
  };

  it("defaults to production: no dev mode, no cross-origin callers", () => {
    const config = parseConfig("graphql", configSchema, base);
    expect(config.GRAPHQL_DEV_MODE).toBe(false);
    expect(config.GRAPHQL_CORS_ORIGINS).toEqual([]);
    expect(config.GRAPHQL_MAX_PAGE_SIZE).toBe(100);
  });

  it("names every bad variable at once", () => {
    const bad = { ...base, GRAPHQL_CORS_ORIGINS: "https://ok.example, javascript:alert(1)", GRAPHQL_MAX_DEPTH: "x" };
    expect(() => parseConfig("graphql", configSchema, bad)).toThrow(
      /GRAPHQL_CORS_ORIGINS[\s\S]*GRAPHQL_MAX_DEPTH|GRAPHQL_MAX_DEPTH[\s\S]*GRAPHQL_CORS_ORIGINS/,
    );
    const page = { ...base, GRAPHQL_DEFAULT_PAGE_SIZE: "50", GRAPHQL_MAX_PAGE_SIZE: "10" };
    expect(() => parseConfig("graphql", configSchema, page)).toThrow(/GRAPHQL_DEFAULT_PAGE_SIZE/);
  });
});

describe("client address", () => {
  const req = (remote: string, forwarded?: string) =>
    ({
      socket: { remoteAddress: remote },
      headers: forwarded ? { "x-forwarded-for": forwarded } : {},
    }) as unknown as IncomingMessage;

  it("is the peer unless proxies are trusted, and never a client-chosen entry", () => {
    expect(clientIp(req("::ffff:10.0.0.9", "1.2.3.4"), 0)).toBe("10.0.0.9");
    expect(clientIp(req("10.0.0.9", "6.6.6.6, 1.2.3.4"), 1)).toBe("1.2.3.4");
    expect(clientIp(req("10.0.0.9", "not-an-ip"), 1)).toBe("10.0.0.9");
  });
});

describe("long-lived subscriptions", () => {
  const source = () => {
    const state = { closed: false };
    async function* events() {
      try {
        yield 1;
        yield 2;
        yield 3;
      } finally {
        state.closed = true;
      }
    }
    return { state, events: events() };
  };

  it("stop delivering once the credential no longer holds, closing the source", async () => {
    const { state, events } = source();
    let valid = true;
    const stream = revalidated(
      events,
      async () => {
        if (!valid) throw new UnauthenticatedError();
      },
      0,
    );
    expect((await stream.next()).value).toBe(1);
    valid = false;
    await expect(stream.next()).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(state.closed).toBe(true);
  });

  it("close their source when the client leaves", async () => {
    const { state, events } = source();
    const stream = revalidated(events, async () => undefined, 60_000);
    await stream.next();
    await stream.return?.();
    expect(state.closed).toBe(true);
  });
});
