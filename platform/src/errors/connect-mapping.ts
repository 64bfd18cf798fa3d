import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor, type StreamResponse, type UnaryResponse } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, QuotaFailureSchema } from "@tessera/proto/google/rpc/error_details_pb";
import { type Logger, rootLogger } from "../log/index.ts";
import { DomainError, type DomainErrorKind, QuotaExceeded } from "./domain-errors.ts";

const codes: Record<DomainErrorKind, Code> = {
  NotFound: Code.NotFound,
  AlreadyExists: Code.AlreadyExists,
  InvalidArgument: Code.InvalidArgument,
  FailedPrecondition: Code.FailedPrecondition,
  PermissionDenied: Code.PermissionDenied,
  Unauthenticated: Code.Unauthenticated,
  ResourceExhausted: Code.ResourceExhausted,
  Unavailable: Code.Unavailable,
};

/**
 * Maps anything thrown by a handler to a ConnectError: domain errors keep their message, field
 * violations (as google.rpc.BadRequest details) and reason (google.rpc.ErrorInfo); ConnectErrors pass through; everything else
 * becomes INTERNAL with a generic message and the original logged once, kept as `cause`.
 */
export function toConnectError(err: unknown, log: Logger = rootLogger()): ConnectError {
  if (err instanceof ConnectError) return err;
  if (isWriteFenced(err)) {
    return new ConnectError(
      "the tenant's writes are paused for a moment (a tier move is under way); retry shortly",
      Code.Unavailable,
      undefined,
      undefined,
      err,
    );
  }
  if (err instanceof DomainError) {
    const details: NonNullable<ConstructorParameters<typeof ConnectError>[3]> =
      err.violations.length > 0
        ? [
            {
              desc: BadRequestSchema,
              value: create(BadRequestSchema, {
                fieldViolations: err.violations.map((v) => ({ field: v.field, description: v.message })),
              }),
            },
          ]
        : [];
    if (err instanceof QuotaExceeded) details.push(quotaFailure(err));
    if (err.info) {
      const { reason, domain, metadata = {} } = err.info;
      details.push({
        desc: ErrorInfoSchema,
        value: create(ErrorInfoSchema, { reason, domain, metadata: { ...metadata } }),
      });
    }
    return new ConnectError(err.message, codes[err.kind], undefined, details, err);
  }
  log.error({ err }, "unexpected error in handler");
  return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}

/** SQLSTATE of the write fence (platform/db/fence.ts): the tenant's writes are paused. */
const WRITE_FENCED = "TSFEN";

function isWriteFenced(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    if ("code" in current && current.code === WRITE_FENCED) return true;
    current = "cause" in current ? current.cause : undefined;
  }
  return false;
}

/** The google.rpc.QuotaFailure detail of an exceeded plan quota: the quota as metric, its limit as value. */
function quotaFailure(err: QuotaExceeded) {
  return {
    desc: QuotaFailureSchema,
    value: create(QuotaFailureSchema, {
      violations: [
        {
          subject: "tenant",
          description: err.message,
          quotaMetric: err.quota,
          quotaId: `plan.${err.quota}`,
          quotaValue: BigInt(err.limit),
          ...(err.plan !== undefined && { quotaDimensions: { plan: err.plan } }),
        },
      ],
    }),
  };
}

/**
 * The one server interceptor that turns handler failures into gRPC statuses, including errors a
 * server-streaming handler throws mid-stream (after `next` returned).
 */
export function errorInterceptor(log?: Logger): Interceptor {
  return (next) => async (req) => {
    let res: UnaryResponse | StreamResponse;
    try {
      res = await next(req);
    } catch (err) {
      throw toConnectError(err, log);
    }
    if (!res.stream) return res;
    return { ...res, message: mapStreamErrors(res.message, (err) => toConnectError(err, log)) };
  };
}

async function* mapStreamErrors<T>(source: AsyncIterable<T>, map: (err: unknown) => Error): AsyncGenerator<T> {
  try {
    yield* source;
  } catch (err) {
    throw map(err);
  }
}
