import { ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { type CallOptions, type Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "@tessera/proto/google/rpc/error_details_pb";

/** Call options carrying a token, with a deadline. */
export function as(token: string): CallOptions {
  return { headers: { authorization: `Bearer ${token}` }, timeoutMs: 10_000 };
}

/** The rejection of a call, as a ConnectError (fails the test if the call succeeded). */
export async function rejection(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail, and it succeeded");
}

/** The field paths an error names, from protovalidate violations or google.rpc.BadRequest. */
export function fieldsOf(err: ConnectError): string[] {
  const fromRules = err
    .findDetails(ViolationsSchema)
    .flatMap((v) => v.violations)
    .map((v) =>
      (v.field?.elements ?? [])
        .map((e) => (e.subscript.case === "index" ? `${e.fieldName}[${e.subscript.value}]` : e.fieldName))
        .join("."),
    );
  const fromDomain = err
    .findDetails(BadRequestSchema)
    .flatMap((b) => b.fieldViolations)
    .map((v) => v.field);
  return [...fromRules, ...fromDomain];
}

/** The code, named fields and message of a call that must fail (the test fails if it succeeds). */
export async function failure(call: Promise<unknown>): Promise<{ code: Code; fields: string[]; message: string }> {
  const err = await rejection(call);
  return { code: err.code, fields: fieldsOf(err), message: err.rawMessage };
}

/** Polls `fn` until it returns a value (bounded); for background progress such as sagas and consumers. */
export async function eventually<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what} did not happen in ${timeoutMs} ms`, { cause: last });
    await new Promise((r) => setTimeout(r, 50));
  }
}
