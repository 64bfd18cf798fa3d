import { createComplexityRule } from "@pothos/plugin-complexity";
import type { DocumentNode, GraphQLSchema, ValidationRule } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { GatewayContext } from "./context.ts";
import { GraphQLError, validate } from "./graphql.ts";

/** Limits on what one operation may ask for. */
export interface OperationLimits {
  readonly maxDepth: number;
  readonly maxAliases: number;
  readonly maxComplexity: number;
  /** When false, `__schema` / `__type` are refused (production default). */
  readonly introspection: boolean;
}

/** Codes of the limit violations (`extensions.code`). */
export const LIMIT_CODES = {
  depth: "DEPTH_LIMIT_EXCEEDED",
  tokens: "TOKEN_LIMIT_EXCEEDED",
  aliases: "ALIAS_LIMIT_EXCEEDED",
  complexity: "COMPLEXITY_LIMIT_EXCEEDED",
  introspection: "INTROSPECTION_DISABLED",
} as const;

/** Refuses documents with more than `max` aliased fields (alias amplification). */
export function maxAliasesRule(max: number): ValidationRule {
  return (context) => {
    let count = 0;
    return {
      Field(node) {
        if (!node.alias) return;
        count++;
        if (count === max + 1) {
          context.reportError(
            new GraphQLError(`Too many aliases (limit ${max}).`, {
              nodes: [node],
              extensions: { code: LIMIT_CODES.aliases },
            }),
          );
        }
      },
    };
  };
}

/** Refuses schema introspection (`__schema`, `__type`); `__typename` stays allowed. */
export const noIntrospectionRule: ValidationRule = (context) => ({
  Field(node) {
    const name = node.name.value;
    if (name === "__schema" || name === "__type") {
      context.reportError(
        new GraphQLError("Introspection is disabled.", {
          nodes: [node],
          extensions: { code: LIMIT_CODES.introspection },
        }),
      );
    }
  },
});

/**
 * Depth and cost of the operation that is about to run, with its variables: every field costs 1,
 * a connection's selection costs as many times as its `first` (see schema/common.ts, which also
 * refuses page sizes out of range with BAD_USER_INPUT).
 */
export function costErrors(
  schema: GraphQLSchema,
  document: DocumentNode,
  variableValues: Record<string, unknown>,
  operationName: string | undefined,
  context: GatewayContext,
  limits: OperationLimits,
): readonly GraphQLError[] {
  const rule = createComplexityRule({
    context,
    variableValues,
    ...(operationName !== undefined && { operationName }),
    validate: ({ depth, complexity }, report) => {
      if (depth > limits.maxDepth) {
        report(
          new GraphQLError(`Query is too deep (depth ${depth}, limit ${limits.maxDepth}).`, {
            extensions: { code: LIMIT_CODES.depth },
          }),
        );
      }
      if (complexity > limits.maxComplexity) {
        report(
          new GraphQLError(`Query is too complex (cost ${complexity}, limit ${limits.maxComplexity}).`, {
            extensions: { code: LIMIT_CODES.complexity },
          }),
        );
      }
    },
  });
  // what the rule reports besides the limits (variables that do not coerce) is the caller's input
  return validate(schema, document, [rule]).map((error) =>
    typeof error.extensions.code === "string"
      ? error
      : new GraphQLError(error.message, {
          ...(error.nodes ? { nodes: error.nodes } : {}),
          extensions: { ...error.extensions, code: "BAD_USER_INPUT" },
        }),
  );
}

const SUGGESTION = / ?Did you mean .*\?$/;

function withoutSuggestions(error: Error): GraphQLError {
  if (!(error instanceof GraphQLError)) return new GraphQLError(error.message);
  if (!SUGGESTION.test(error.message)) return error;
  return new GraphQLError(error.message.replace(SUGGESTION, ""), {
    ...(error.nodes ? { nodes: error.nodes } : {}),
    extensions: error.extensions,
  });
}

/**
 * The limits plugin: aliases and introspection at validation (cached with the document), depth,
 * cost and page sizes right before execution (they depend on variables). A violation answers a
 * GraphQL error with a code and makes no call to any service.
 */
export function useOperationLimits(limits: OperationLimits): Plugin<GatewayContext> {
  const check = (args: {
    schema: GraphQLSchema;
    document: DocumentNode;
    variableValues?: unknown;
    operationName?: string | null | undefined;
    contextValue?: unknown;
  }) =>
    costErrors(
      args.schema,
      args.document,
      (args.variableValues ?? {}) as Record<string, unknown>,
      args.operationName ?? undefined,
      args.contextValue as GatewayContext,
      limits,
    );
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(maxAliasesRule(limits.maxAliases));
      if (limits.introspection) return;
      addValidationRule(noIntrospectionRule);
      // without introspection, "Did you mean …?" would still spell the schema out
      return ({ valid, result, setResult }) => {
        if (!valid) setResult(result.map(withoutSuggestions));
      };
    },
    onExecute({ args, setResultAndStopExecution }) {
      const errors = check(args);
      if (errors.length > 0) setResultAndStopExecution({ errors });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const errors = check(args);
      if (errors.length > 0) setResultAndStopExecution({ errors });
    },
  };
}
