import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { QuotaExceeded, toConnectError } from "@tessera/platform/errors";
import { createLogger } from "@tessera/platform/log";
import { BadRequestSchema } from "@tessera/proto/google/rpc/error_details_pb";
import { describe, expect, it } from "vitest";
import { toProblem } from "../../src/errors.ts";
import { fromConnectError, GRPC_TO_PROBLEM, PROBLEM_KINDS, ProblemError } from "../../src/problems.ts";

const badRequest = (violations: Array<[string, string]>) => [
  {
    desc: BadRequestSchema,
    value: create(BadRequestSchema, {
      fieldViolations: violations.map(([field, description]) => ({ field, description })),
    }),
  },
];

describe("the one gRPC → HTTP mapping", () => {
  it("maps every gRPC code to a problem with the expected HTTP status", () => {
    const expected: Record<number, number> = {
      [Code.Canceled]: 499,
      [Code.Unknown]: 500,
      [Code.InvalidArgument]: 400,
      [Code.DeadlineExceeded]: 504,
      [Code.NotFound]: 404,
      [Code.AlreadyExists]: 409,
      [Code.PermissionDenied]: 403,
      [Code.ResourceExhausted]: 429,
      [Code.FailedPrecondition]: 409,
      [Code.Aborted]: 409,
      [Code.OutOfRange]: 400,
      [Code.Unimplemented]: 501,
      [Code.Internal]: 500,
      [Code.Unavailable]: 503,
      [Code.DataLoss]: 500,
      [Code.Unauthenticated]: 401,
    };
    for (const [code, status] of Object.entries(expected)) {
      const p = fromConnectError(new ConnectError("boom", Number(code) as Code)).problem;
      expect(p.status, `code ${code}`).toBe(status);
      expect(PROBLEM_KINDS[GRPC_TO_PROBLEM[Number(code) as Code]].status).toBe(status);
      expect(p.type).toMatch(/^urn:tessera:problem:[a-z-]+$/);
    }
  });

  it("answers a used-up plan quota (RESOURCE_EXHAUSTED with a QuotaFailure) with 403 quota-exceeded naming quota and limit, rate limiting stays 429", () => {
    const quota = toConnectError(new QuotaExceeded("projects", 3, "free"));
    expect(fromConnectError(quota).problem).toEqual({
      type: "urn:tessera:problem:quota-exceeded",
      title: "Plan quota exceeded",
      status: 403,
      detail: "quota exceeded: projects (limit 3 on plan free)",
      quota: "projects",
      limit: 3,
    });
    expect(fromConnectError(new ConnectError("slow down", Code.ResourceExhausted)).problem).toMatchObject({
      type: "urn:tessera:problem:rate-limited",
      status: 429,
    });
  });

  it("turns field violations into field-level errors with REST names", () => {
    const err = new ConnectError(
      "invalid request",
      Code.InvalidArgument,
      undefined,
      badRequest([
        ["title", "must not be blank"],
        ["labels[1]", "does not match the pattern"],
        ["page.page_size", "must be at most 500"],
      ]),
    );
    expect(fromConnectError(err).problem).toEqual({
      type: "urn:tessera:problem:invalid-request",
      title: "Invalid request",
      status: 400,
      detail: "invalid request",
      errors: [
        { field: "title", message: "must not be blank" },
        { field: "labels[1]", message: "does not match the pattern" },
        { field: "limit", message: "must be at most 500" },
      ],
    });
  });

  it("words every cursor problem alike, so a foreign cursor reads as a malformed one", () => {
    const foreign = new ConnectError(
      "invalid page token",
      Code.InvalidArgument,
      undefined,
      badRequest([["page.page_token", "page token belongs to another list, filter or tenant"]]),
    );
    const garbled = new ConnectError(
      "invalid page token",
      Code.InvalidArgument,
      undefined,
      badRequest([["page.page_token", "not a page token of this list (altered or truncated)"]]),
    );
    expect(fromConnectError(foreign).problem).toEqual(fromConnectError(garbled).problem);
    expect(fromConnectError(foreign).problem.errors).toEqual([
      { field: "cursor", message: "is not a cursor of this list" },
    ]);
  });

  it("answers a version conflict with 412 and other failed preconditions with 409", () => {
    const version = new ConnectError(
      "the task has changed since it was read",
      Code.FailedPrecondition,
      undefined,
      badRequest([["expected_version", "is 1, but the task is at version 2"]]),
    );
    expect(fromConnectError(version).problem).toMatchObject({ status: 412, errors: [{ field: "If-Match" }] });
    const archived = new ConnectError("the project is archived", Code.FailedPrecondition);
    expect(fromConnectError(archived).problem).toMatchObject({ status: 409, detail: "the project is archived" });
  });

  it("never passes upstream messages of 404, 401 and 5xx through", () => {
    expect(fromConnectError(new ConnectError("task not found", Code.NotFound)).problem.detail).toBe(
      "The resource does not exist.",
    );
    const internal = fromConnectError(new ConnectError("pg: relation tasks is broken", Code.Internal)).problem;
    expect(JSON.stringify(internal)).not.toContain("pg:");
    const unauth = fromConnectError(new ConnectError("token expired at …", Code.Unauthenticated));
    expect(unauth.problem.detail).not.toContain("expired at");
    expect(unauth.headers["www-authenticate"]).toContain("Bearer");
  });

  it("turns an unexpected error into a logged 500 that says nothing about it", () => {
    const logger = createLogger({ service: "test", level: "silent" });
    const p = toProblem(new TypeError("secret internals"), logger);
    expect(p).toBeInstanceOf(ProblemError);
    expect(p.problem).toEqual({
      type: "urn:tessera:problem:internal",
      title: "Internal error",
      status: 500,
      detail: "An internal error occurred.",
    });
  });
});
