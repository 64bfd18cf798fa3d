/**
 * Regenerates proto/gen from the contracts: prints buf/validate/validate.proto into the
 * git-ignored .buf-deps module (no BSR reachable), then runs `buf generate`.
 * Skips both when nothing changed since the last run. `--release` also rewrites the committed
 * snapshot that `buf breaking` compares against.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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
if (!existsSync(depFile) || readFileSync(depFile, "utf8") !== validateProto) writeFileSync(depFile, validateProto);

const inputs = [
  join(root, "buf.gen.yaml"),
  join(root, "buf.yaml"),
  depFile,
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
