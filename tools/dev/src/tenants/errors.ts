import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "@tessera/proto/google/rpc/error_details_pb";

/** A failure the CLI explains in one sentence; exit code 1 unless said otherwise. */
export class CliError extends Error {
  readonly exitCode: number;
  /** The gRPC code behind it, when a call failed (`NOT_FOUND`, …), for --json. */
  readonly code: string | undefined;

  constructor(message: string, exitCode = 1, code?: string) {
    super(message);
    this.exitCode = exitCode;
    this.code = code;
  }
}

/** The operator pressed Ctrl-C while the CLI was following an operation (exit code 130). */
export class Interrupted extends Error {}

/** `NOT_FOUND` for Code.NotFound. */
export function codeName(code: Code): string {
  return (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** Field names an error carries as google.rpc.BadRequest details (the services' business-rule violations). */
function fieldsOf(err: ConnectError): string[] {
  return err
    .findDetails(BadRequestSchema)
    .flatMap((b) => b.fieldViolations)
    .map((v) => v.field)
    .filter((f) => f !== "");
}

/**
 * Turns a failed call into one sentence an operator can act on: what went wrong (from the gRPC
 * code), the service's own message, and the code itself. `what` names the call's purpose
 * ("tenancy", "identity (token for tenancy)") and `url` where it went.
 */
export function describeRpcError(err: unknown, what: string, url: string): CliError {
  if (err instanceof CliError || err instanceof Interrupted) return err as CliError;
  const e = ConnectError.from(err);
  // an interceptor's own failure (getting a token) reaches the caller wrapped by Connect
  if (e.cause instanceof CliError) return e.cause;
  const message = e.rawMessage;
  const fields = fieldsOf(e);
  const onFields = fields.length > 0 ? ` (${fields.join(", ")})` : "";
  const sentence = (() => {
    switch (e.code) {
      case Code.NotFound:
        return `not found: ${message}`;
      case Code.InvalidArgument:
        return `${what} refused the request as invalid${onFields}: ${message}`;
      case Code.AlreadyExists:
        return `already exists${onFields}: ${message}`;
      case Code.FailedPrecondition:
        return `not possible in the tenant's current state${onFields}: ${message}`;
      case Code.PermissionDenied:
        return `permission denied: the credential lacks the platform-admin role for this (${message})`;
      case Code.Unauthenticated:
        return `${what} answered that the call is not authenticated (${message}): is the credential meant for it?`;
      case Code.Unavailable:
        return `${what} at ${url} is unavailable (${message}): is it running and reachable?`;
      case Code.DeadlineExceeded:
        return `${what} at ${url} did not answer in time (${message})`;
      case Code.Unimplemented:
        return `${what} at ${url} does not implement this yet (${message}): it may be an older release`;
      case Code.ResourceExhausted:
        return `${what} refused the request for now (quota or rate limit): ${message}`;
      case Code.Canceled:
        return `the call was cancelled (${message})`;
      default:
        return `${what} failed: ${message}`;
    }
  })();
  return new CliError(`${sentence} [${codeName(e.code)}]`, 1, codeName(e.code));
}
