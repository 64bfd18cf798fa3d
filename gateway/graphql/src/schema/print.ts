import { readFileSync } from "node:fs";
import type { BreakingChange, GraphQLSchema } from "graphql";
import { buildSchema, findBreakingChanges, lexicographicSortSchema, printSchema } from "../graphql.ts";
import { gatewaySchema } from "./index.ts";

const root = new URL("../../", import.meta.url);

/** Where the printed schema, the last released schema and the declared breaking changes live. */
export const SCHEMA_FILES = {
  current: new URL("schema.graphql", root),
  released: new URL("schema.released.graphql", root),
  allowed: new URL("schema.breaking-allowed.json", root),
} as const;

/** The schema as it is committed: sorted, printed SDL with a trailing newline. */
export function printGatewaySchema(schema: GraphQLSchema = gatewaySchema()): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}

/** SDL in the printed form, whatever its layout (the committed file is formatted by Biome). */
export function normaliseSdl(sdl: string): string {
  return printGatewaySchema(buildSchema(sdl));
}

/** A breaking change someone declared on purpose, with why. */
export interface AllowedBreakingChange {
  type: string;
  description: string;
  reason: string;
}

/** The declared breaking changes (schema.breaking-allowed.json). */
export function allowedBreakingChanges(): AllowedBreakingChange[] {
  const parsed: unknown = JSON.parse(readFileSync(SCHEMA_FILES.allowed, "utf8"));
  if (!Array.isArray(parsed)) throw new Error("schema.breaking-allowed.json must be a JSON array");
  return parsed as AllowedBreakingChange[];
}

/** Breaking changes from `releasedSdl` to `schema` that are not in `allowed`. */
export function undeclaredBreakingChanges(
  releasedSdl: string,
  schema: GraphQLSchema,
  allowed: readonly AllowedBreakingChange[],
): BreakingChange[] {
  const changes = findBreakingChanges(buildSchema(releasedSdl), schema);
  return changes.filter((c) => !allowed.some((a) => a.type === c.type && a.description === c.description));
}
