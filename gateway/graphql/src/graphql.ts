import { createRequire } from "node:module";

/**
 * The graphql runtime, loaded the way the gateway's libraries (yoga, Pothos) load it, so there is
 * exactly one instance of it. graphql 17 ships a `development` build beside the regular one; a
 * resolver that honours the `development` condition (vitest's does) would otherwise hand the
 * gateway's own modules the other build, and graphql refuses schemas and errors "from another
 * realm". Type-only imports may come from "graphql" directly.
 */
const graphql = createRequire(import.meta.url)("graphql") as typeof import("graphql");

/** Functions of the one graphql instance. */
export const {
  buildSchema,
  findBreakingChanges,
  getOperationAST,
  Kind,
  lexicographicSortSchema,
  printSchema,
  validate,
} = graphql;
/** The GraphQLError class of the one graphql instance (yoga and Pothos check errors with instanceof). */
export const GraphQLError = graphql.GraphQLError;
export type GraphQLError = import("graphql").GraphQLError;
