#!/usr/bin/env node
/**
 * Lays out one deployable for its image: `node docker/deploy.mjs <package-name> <out-dir>`.
 *
 * 1. `pnpm deploy --filter <package> --prod <out-dir>`: the package with its production
 *    dependencies only (workspace packages copied in, no devDependencies).
 * 2. Moves the workspace packages (@tessera/platform, @tessera/proto, ...) out of node_modules into
 *    `<out-dir>/lib/`, leaving symlinks behind: Node strips TypeScript types everywhere except under
 *    node_modules, and these packages ship `.ts` sources (no build step).
 * 3. Puts the repository's operator configuration (`config/`, e.g. the plan catalogue
 *    config/plans.yaml) next to the platform package, where the kit looks for it, as in the
 *    repository (`<platform>/../config/`): `<out-dir>/lib/@tessera/config/`.
 * 4. Drops what a running process never reads: tests, the lockfile copy.
 *
 * The Dockerfiles run exactly this; test/charts/images.test.ts runs it too and starts the result.
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const [pkg, outArg, ...extra] = process.argv.slice(2);
if (!pkg || !outArg) {
  process.stderr.write("usage: node docker/deploy.mjs <package-name> <out-dir> [extra pnpm deploy flags]\n");
  process.exit(2);
}
const out = resolve(outArg);
const pnpm = process.env.PNPM ?? "pnpm";

rmSync(out, { recursive: true, force: true });
execFileSync(pnpm, ["deploy", "--filter", pkg, "--prod", ...extra, out], { stdio: ["ignore", "inherit", "inherit"] });

/** Real (non-symlink) package folders inside a `.pnpm/<entry>/node_modules`, as `@scope/name` or `name`. */
function packagesIn(dir) {
  const found = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (entry.startsWith("@")) {
      for (const sub of readdirSync(path)) {
        if (!lstatSync(join(path, sub)).isSymbolicLink()) found.push(`${entry}/${sub}`);
      }
    } else if (entry !== ".bin" && !lstatSync(path).isSymbolicLink()) {
      found.push(entry);
    }
  }
  return found;
}

const store = join(out, "node_modules/.pnpm");
const moved = [];
for (const entry of existsSync(store) ? readdirSync(store) : []) {
  // workspace packages are linked from a local path: `<name>@file+<path>`
  if (!entry.includes("@file+")) continue;
  const modules = join(store, entry, "node_modules");
  for (const name of packagesIn(modules)) {
    const from = join(modules, name);
    const to = join(out, "lib", name);
    mkdirSync(dirname(to), { recursive: true });
    rmSync(to, { recursive: true, force: true });
    renameSync(from, to);
    // its dependencies stay where pnpm put them: the package's own node_modules points there
    rmSync(join(to, "node_modules"), { recursive: true, force: true });
    symlinkSync(relative(to, modules), join(to, "node_modules"));
    symlinkSync(relative(dirname(from), to), from);
    moved.push(name);
  }
}

// the kit reads config/plans.yaml from `<platform package>/../config` unless TESSERA_PLANS_FILE says otherwise
const platformDir = join(out, "lib", "@tessera", "platform");
if (existsSync(platformDir)) {
  const config = new URL("../config", import.meta.url);
  cpSync(config, join(dirname(platformDir), "config"), { recursive: true, dereference: true });
}

/** Removes test folders and test files below dir (not following symlinks). */
function pruneTests(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink() || entry.name === "node_modules") continue;
    if (entry.isDirectory()) {
      if (entry.name === "test") rmSync(path, { recursive: true, force: true });
      else pruneTests(path);
    } else if (/\.test\.[cm]?[jt]s$/.test(entry.name)) {
      rmSync(path, { force: true });
    }
  }
}
pruneTests(out);
rmSync(join(out, "pnpm-lock.yaml"), { force: true });
rmSync(join(out, "pnpm-workspace.yaml"), { force: true });
process.stdout.write(`deployed ${pkg} to ${out}; workspace packages in lib/: ${moved.join(", ") || "none"}\n`);
