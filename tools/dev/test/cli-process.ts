import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const cli = new URL("../src/cli.ts", import.meta.url).pathname;

/** A `node tools/dev/src/cli.ts …` child with its combined output collected. */
export interface CliProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves when the output contains text; rejects after timeoutMs or if the process exits first. */
  waitFor(text: string, timeoutMs: number): Promise<void>;
  /** Resolves with the exit code; SIGKILLs the process and rejects after timeoutMs. */
  exited(timeoutMs: number): Promise<number | null>;
}

/** The environment minus anything that would make the CLI adopt or start other infrastructure. */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(VITEST|TESSERA_|DATABASE_URL$|NATS_URL$)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** Starts the CLI as a child process (not through ./tessera: no bootstrap). */
export function startCli(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  const child = spawn(process.execPath, [cli, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const l of listeners) l();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    output: () => output,
    waitFor: (text, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!output.includes(text)) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no "${text}" within ${timeoutMs} ms; output:\n${output}`));
        }, timeoutMs);
        const onExit = () => {
          cleanup();
          reject(new Error(`exited before printing "${text}"; output:\n${output}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off("exit", onExit);
        };
        listeners.add(check);
        child.once("exit", onExit);
        check();
      }),
    exited: async (timeoutMs) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill("SIGKILL");
          reject(new Error(`did not exit within ${timeoutMs} ms; output:\n${output}`));
        }, timeoutMs);
      });
      try {
        return await Promise.race([exit, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** One deployable of a fixture workspace: its folder and its package.json "tessera" block. */
export interface FixturePackage {
  dir: "services" | "gateway";
  name: string;
  tessera: Record<string, unknown>;
}

/** Writes a throwaway workspace with the given packages; returns its root. */
export function fixtureWorkspace(packages: FixturePackage[]): string {
  const root = mkdtempSync(join(tmpdir(), "tessera-ws-"));
  for (const p of packages) {
    const dir = join(root, p.dir, p.name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: p.name, tessera: p.tessera }));
  }
  return root;
}

/** Absolute path of a file in test/fixtures. */
export const fixture = (name: string): string => new URL(`./fixtures/${name}`, import.meta.url).pathname;

/** How a finished `./tessera tenants …` run ended. */
export interface TenantsRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

const cliMain = new URL("../src/cli.ts", import.meta.url).pathname;

/** `node tools/dev/src/cli.ts tenants …` as a child process, to its end. */
export function runTenants(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<TenantsRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliMain, "tenants", ...args], { env, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
