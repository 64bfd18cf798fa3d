/**
 * Prints the gateway's schema into gateway/graphql/schema.graphql (then formats it with Biome, as
 * the repository's lint expects).
 *   node gateway/graphql/scripts/print-schema.ts            accept the current schema
 *   node gateway/graphql/scripts/print-schema.ts --release  also mark it released (the new
 *        baseline for breaking-change checks) and clear schema.breaking-allowed.json
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { printGatewaySchema, SCHEMA_FILES } from "../src/schema/print.ts";

const sdl = printGatewaySchema();
const written = [SCHEMA_FILES.current];
writeFileSync(SCHEMA_FILES.current, sdl);
if (process.argv.includes("--release")) {
  writeFileSync(SCHEMA_FILES.released, sdl);
  writeFileSync(SCHEMA_FILES.allowed, "[]\n");
  written.push(SCHEMA_FILES.released, SCHEMA_FILES.allowed);
}
const biome = fileURLToPath(new URL("../../../node_modules/.bin/biome", import.meta.url));
const formatted = spawnSync(biome, ["format", "--write", ...written.map((f) => fileURLToPath(f))], { stdio: "ignore" });
if (formatted.status !== 0) process.stderr.write("warning: could not format with biome; run `biome format --write`\n");
process.stdout.write(`wrote ${written.map((f) => fileURLToPath(f)).join(", ")}\n`);
