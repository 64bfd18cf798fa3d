import { isAbsolute, join, relative, resolve } from "node:path";

/** The repository root (this file lives in tools/dev/src). */
export const repoRoot: string = resolve(new URL("../../../", import.meta.url).pathname);

/** Where `up` keeps its data, lock and runtime.json: TESSERA_HOME, or the git-ignored `.tessera/`. */
export function tesseraHome(env: NodeJS.ProcessEnv = process.env): string {
  const given = env.TESSERA_HOME;
  return given ? resolve(given) : join(repoRoot, ".tessera");
}

/**
 * The folder whose `services/*` and `gateway/*` packages `up` starts: the repository, unless
 * TESSERA_WORKSPACE points elsewhere (the up tests use a fixture workspace).
 */
export function workspaceRoot(env: NodeJS.ProcessEnv = process.env): string {
  const given = env.TESSERA_WORKSPACE;
  return given ? resolve(given) : repoRoot;
}

/** A path as the user can type it from the current directory (relative when inside it). */
export function displayPath(path: string, cwd = process.cwd()): string {
  const rel = relative(cwd, path);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}
