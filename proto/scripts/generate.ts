/**
 * Regenerates proto/gen from the contracts: prints buf/validate/validate.proto and copies the
 * standard grpc/health/v1/health.proto (shipped by the npm package grpc-health-check) into the
 * git-ignored .buf-deps module (no BSR reachable), then runs `buf generate`.
 * Skips both when nothing changed since the last run. `--release` also rewrites the committed
 * snapshot that `buf breaking` compares against.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { file_buf_validate_validate } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { printProto } from "./print-proto.ts";

const root = new URL("..", import.meta.url).pathname;
const buf = join(root, "node_modules/.bin/buf");

function listProtos(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listProtos(path);
    return name.endsWith(".proto") ? [path] : [];
  });
}

const depDir = join(root, ".buf-deps/buf/validate");
mkdirSync(depDir, { recursive: true });
const validateProto = printProto(file_buf_validate_validate.proto);
const depFile = join(depDir, "validate.proto");
writeIfChanged(depFile, validateProto);

const healthSource = join(
  dirname(createRequire(import.meta.url).resolve("grpc-health-check/package.json")),
  "proto/health/v1/health.proto",
);
const healthFile = join(root, ".buf-deps/grpc/health/v1/health.proto");
mkdirSync(dirname(healthFile), { recursive: true });
writeIfChanged(healthFile, readFileSync(healthSource, "utf8"));

function writeIfChanged(file: string, content: string): void {
  if (!existsSync(file) || readFileSync(file, "utf8") !== content) writeFileSync(file, content);
}

const inputs = [
  join(root, "buf.gen.yaml"),
  join(root, "buf.yaml"),
  depFile,
  healthFile,
  ...listProtos(join(root, "tessera")).sort(),
  ...listProtos(join(root, "third_party")).sort(),
];
const hash = createHash("sha256");
for (const f of inputs) hash.update(f).update(readFileSync(f));
const digest = hash.digest("hex");
const stamp = join(root, "gen/.stamp");
const fresh = existsSync(stamp) && readFileSync(stamp, "utf8") === digest;

if (!fresh) {
  rmSync(join(root, "gen"), { recursive: true, force: true });
  execFileSync(buf, ["generate"], { cwd: root, stdio: "inherit" });
  writeFileSync(stamp, digest);
}

if (process.argv.includes("--release")) {
  execFileSync(buf, ["build", "--exclude-source-info", "--path", "tessera", "-o", "released/contracts.binpb"], {
    cwd: root,
    stdio: "inherit",
  });
  console.log("released/contracts.binpb updated: commit it with the contract change");
}
