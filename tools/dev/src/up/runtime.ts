import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderTable } from "../table.ts";

/** One row of the `up` table and of runtime.json. */
export interface ComponentStatus {
  name: string;
  /** postgres, nats, service or gateway. */
  kind: string;
  url: string;
  pid: number | undefined;
  /** running, external, healthy, unhealthy, exited, … */
  status: string;
  /** Why it is not healthy, when it is not. */
  detail?: string;
}

/** The content of `<home>/runtime.json` while `up` runs. */
export interface RuntimeInfo {
  /** Pid of the `up` process. */
  pid: number;
  startedAt: string;
  home: string;
  databaseUrl: string;
  natsUrl: string;
  components: ComponentStatus[];
}

/** Path of runtime.json in a TESSERA_HOME. */
export const runtimeFile = (home: string): string => join(home, "runtime.json");

/** The status table as `up` prints it. */
export function renderStatus(components: readonly ComponentStatus[]): string {
  return renderTable(
    ["name", "kind", "url", "pid", "status"],
    components.map((c) => [
      c.name,
      c.kind,
      c.url,
      c.pid === undefined ? "-" : String(c.pid),
      c.detail ? `${c.status}: ${c.detail}` : c.status,
    ]),
  );
}

/** Writes runtime.json atomically (readers never see half a file). */
export function writeRuntime(home: string, info: RuntimeInfo): void {
  const file = runtimeFile(home);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** Removes runtime.json (on shutdown: it describes running processes only). */
export function removeRuntime(home: string): void {
  rmSync(runtimeFile(home), { force: true });
}

/** The postmaster's pid from its data directory, if it runs from there. */
export function postgresPid(dataDir: string): number | undefined {
  const file = join(dataDir, "postmaster.pid");
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, "utf8").split("\n")[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** The pid of the process whose command line contains every one of `parts` (Linux /proc; else undefined). */
export function findPidByCommandLine(parts: readonly string[]): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (parts.every((p) => args.includes(p))) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  return undefined;
}
