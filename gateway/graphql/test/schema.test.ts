import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildSchema } from "../src/graphql.ts";
import {
  allowedBreakingChanges,
  normaliseSdl,
  printGatewaySchema,
  SCHEMA_FILES,
  undeclaredBreakingChanges,
} from "../src/schema/print.ts";

const ACCEPT = "node gateway/graphql/scripts/print-schema.ts";

describe("the committed schema", () => {
  it("is the schema the code builds (otherwise run the print script and commit schema.graphql)", () => {
    const committed = normaliseSdl(readFileSync(SCHEMA_FILES.current, "utf8"));
    expect(printGatewaySchema(), `schema.graphql is out of date: run \`${ACCEPT}\``).toBe(committed);
  });

  it("notices a change of a description, not only of types", () => {
    const committed = readFileSync(SCHEMA_FILES.current, "utf8");
    const edited = committed.replace("A project of the caller's tenant.", "A project.");
    expect(edited).not.toBe(committed);
    expect(normaliseSdl(edited)).not.toBe(printGatewaySchema());
  });

  it("has no breaking change against the released schema unless it is declared", () => {
    const released = readFileSync(SCHEMA_FILES.released, "utf8");
    const current = buildSchema(readFileSync(SCHEMA_FILES.current, "utf8"));
    const undeclared = undeclaredBreakingChanges(released, current, allowedBreakingChanges());
    expect(
      undeclared.map((c) => `${c.type}: ${c.description}`),
      "declare intended breaking changes in schema.breaking-allowed.json (type, description, reason)",
    ).toEqual([]);
  });
});

describe("the breaking-change check", () => {
  const released = "type Query { a: String, b(n: Int): Int }";

  it("finds a removed field and a changed argument", () => {
    const next = buildSchema("type Query { b(n: String): Int }");
    expect(
      undeclaredBreakingChanges(released, next, [])
        .map((c) => c.type)
        .sort(),
    ).toEqual(["ARG_CHANGED_KIND", "FIELD_REMOVED"]);
  });

  it("lets a declared change through, and only that one", () => {
    const next = buildSchema("type Query { b(n: String): Int }");
    const allowed = [{ type: "FIELD_REMOVED", description: "Field Query.a was removed.", reason: "unused" }];
    expect(undeclaredBreakingChanges(released, next, allowed).map((c) => c.type)).toEqual(["ARG_CHANGED_KIND"]);
  });

  it("does not count additions as breaking", () => {
    const next = buildSchema("type Query { a: String, b(n: Int): Int, c: Boolean }");
    expect(undeclaredBreakingChanges(released, next, [])).toEqual([]);
  });
});
