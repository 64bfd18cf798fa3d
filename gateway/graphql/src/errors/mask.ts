import type { Logger } from "@tessera/platform/log";
import { GraphQLError } from "../graphql.ts";
import { GatewayError } from "./gateway-errors.ts";
import { fromServiceError, gatewayGraphQLError } from "./mapping.ts";

/** What callers see instead of an unexpected error's message. */
export const MASKED_MESSAGE = "Unexpected error.";
/** The code of masked errors. */
export const INTERNAL_CODE = "INTERNAL_SERVER_ERROR";

/**
 * yoga's `maskError`: expected failures (gateway errors, service statuses from the mapping,
 * GraphQL errors the gateway raised with a code) keep their message and code; anything else is
 * logged once (with the request's trace id, never its variables) and answered as
 * "Unexpected error." with code INTERNAL_SERVER_ERROR.
 */
export function createMaskError(log: Logger): (error: unknown) => GraphQLError {
  return (error) => {
    const graphql = error instanceof GraphQLError ? error : undefined;
    const original = graphql?.originalError ?? error;
    if (original instanceof GraphQLError && original !== graphql && typeof original.extensions.code === "string") {
      return new GraphQLError(original.message, {
        ...(graphql?.nodes ? { nodes: graphql.nodes } : {}),
        ...(graphql?.path ? { path: graphql.path } : {}),
        extensions: original.extensions,
      });
    }
    // the request itself was refused (say, a variable of the wrong type): the caller's input
    if (graphql && !graphql.originalError) {
      if (typeof graphql.extensions.code === "string") return graphql;
      return new GraphQLError(graphql.message, {
        ...(graphql.nodes ? { nodes: graphql.nodes } : {}),
        ...(graphql.path ? { path: graphql.path } : {}),
        extensions: { ...graphql.extensions, code: "BAD_USER_INPUT" },
      });
    }
    const mapped = fromServiceError(original);
    if (mapped instanceof GatewayError) return gatewayGraphQLError(mapped, graphql);
    log.error({ err: original, path: graphql?.path?.join(".") }, "unexpected error in a GraphQL operation");
    return new GraphQLError(MASKED_MESSAGE, {
      ...(graphql?.nodes ? { nodes: graphql.nodes } : {}),
      ...(graphql?.path ? { path: graphql.path } : {}),
      extensions: { code: INTERNAL_CODE },
    });
  };
}
