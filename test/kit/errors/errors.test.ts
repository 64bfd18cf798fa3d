import { Code, ConnectError } from "@connectrpc/connect";
import {
  AlreadyExists,
  FailedPrecondition,
  InvalidArgument,
  NotFound,
  PermissionDenied,
  ResourceExhausted,
  toConnectError,
  Unauthenticated,
  Unavailable,
} from "@tessera/platform/errors";
import { createLogger } from "@tessera/platform/log";
import { BadRequestSchema } from "@tessera/proto/google/rpc/error_details_pb";
import { captureLogs } from "@tessera/test/harness";
import { describe, expect, it } from "vitest";

describe("toConnectError", () => {
  it.each([
    [new NotFound("project not found"), Code.NotFound],
    [new AlreadyExists("slug taken"), Code.AlreadyExists],
    [new InvalidArgument("bad"), Code.InvalidArgument],
    [new FailedPrecondition("tenant suspended"), Code.FailedPrecondition],
    [new PermissionDenied("not allowed"), Code.PermissionDenied],
    [new Unauthenticated("no credentials"), Code.Unauthenticated],
    [new ResourceExhausted("quota"), Code.ResourceExhausted],
    [new Unavailable("try later"), Code.Unavailable],
  ])("maps %s to its gRPC code and keeps the message", (err, code) => {
    const mapped = toConnectError(err);
    expect(mapped.code).toBe(code);
    expect(mapped.rawMessage).toBe(err.message);
  });

  it("carries field violations as google.rpc.BadRequest details", () => {
    const mapped = toConnectError(
      new InvalidArgument("invalid tenant", [{ field: "slug", message: "must be lowercase" }]),
    );
    const [details] = mapped.findDetails(BadRequestSchema);
    expect(details?.fieldViolations.map((v) => [v.field, v.description])).toEqual([["slug", "must be lowercase"]]);
  });

  it("turns anything unexpected into INTERNAL with a generic message, logged once with the cause", () => {
    const logs = captureLogs("errors-internal");
    const log = createLogger({ service: "errors-test", destination: logs.stream });
    const original = new TypeError("cannot read properties of undefined (reading 'secretColumn')");
    const mapped = toConnectError(original, log);
    expect(mapped.code).toBe(Code.Internal);
    expect(mapped.rawMessage).toBe("internal error");
    expect(mapped.cause).toBe(original);
    expect(logs.lines()).toHaveLength(1);
    expect(logs.text()).toContain("secretColumn");
  });

  it("passes ConnectErrors through untouched", () => {
    const err = new ConnectError("deadline", Code.DeadlineExceeded);
    expect(toConnectError(err)).toBe(err);
  });
});
