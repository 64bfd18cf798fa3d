import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

/** One running (or last run) process of a tenant's service. */
export interface InstanceState {
  readonly port: number;
  readonly metricsPort?: number | undefined;
  /** The process, with its start time (`/proc/<pid>/stat`), so a reused pid is never taken for it. */
  readonly pid?: number | undefined;
  readonly startTime?: string | undefined;
  readonly version: string;
}

/** A process to stop: the previous version after an upgrade, or a new one an upgrade did not finish. */
export interface RetiredProcess {
  readonly pid: number;
  readonly startTime?: string | undefined;
  /** The port it serves on (which process an entry is, while it is being started or drained). */
  readonly port: number;
  readonly metricsPort?: number | undefined;
}

/** What the `local` driver remembers of one tenant (`<stateDir>/<tenant id>.json`). */
export interface TenantState {
  readonly tenantId: string;
  readonly slug: string;
  services: Record<string, InstanceState>;
  retired: RetiredProcess[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const fileOf = (dir: string, tenantId: string) => {
  if (!UUID.test(tenantId)) throw new Error(`not a tenant id: ${JSON.stringify(tenantId)}`);
  return join(dir, `${tenantId}.json`);
};

/** The tenant's state, or undefined when there is none (or it is unreadable: then it is started afresh). */
export function readState(dir: string, tenantId: string): TenantState | undefined {
  try {
    const parsed = JSON.parse(readFileSync(fileOf(dir, tenantId), "utf8")) as TenantState;
    if (parsed.tenantId !== tenantId || typeof parsed.services !== "object") return undefined;
    return { ...parsed, retired: Array.isArray(parsed.retired) ? parsed.retired : [] };
  } catch {
    return undefined;
  }
}

/** Writes the tenant's state atomically (mode 0600). */
export function writeState(dir: string, state: TenantState): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = fileOf(dir, state.tenantId);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** Forgets the tenant (uninstall). */
export function removeState(dir: string, tenantId: string): void {
  rmSync(fileOf(dir, tenantId), { force: true });
}

/** Every tenant with a state file. */
export function listStates(dir: string): TenantState[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith(".json") && UUID.test(n.slice(0, -5)))
    .map((n) => readState(dir, n.slice(0, -5)))
    .filter((s): s is TenantState => s !== undefined);
}

/** The kernel's start time of a process (Linux); undefined where there is no /proc or no such process. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // the command name (field 2) may hold spaces and parentheses: count fields after its closing one
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Whether the process still runs and is the one recorded (same start time where it can be told). */
export function isAlive(pid: number, startTime: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const now = processStartTime(pid);
  return startTime === undefined || now === undefined || now === startTime;
}

/** Whether nothing listens on host:port (by binding it for a moment). */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * A free port: `preferred` when it is free, else one from the range that no tenant holds (`taken`)
 * and nothing listens on, starting at a random place so concurrent allocations rarely collide.
 */
export async function choosePort(
  host: string,
  range: { from: number; to: number },
  taken: ReadonlySet<number>,
  preferred?: number,
): Promise<number> {
  if (preferred !== undefined && !taken.has(preferred) && (await portFree(host, preferred))) return preferred;
  const size = range.to - range.from + 1;
  const offset = Math.floor(Math.random() * size);
  for (let i = 0; i < size; i++) {
    const port = range.from + ((offset + i) % size);
    if (!taken.has(port) && (await portFree(host, port))) return port;
  }
  throw new Error(`no free port in ${range.from}-${range.to} for a silo tenant's process`);
}

/** Every port the tenants' states hold (so two tenants never get the same one). */
export function portsHeld(states: readonly TenantState[]): Set<number> {
  const held = new Set<number>();
  for (const s of states) {
    for (const i of Object.values(s.services)) {
      held.add(i.port);
      if (i.metricsPort !== undefined) held.add(i.metricsPort);
    }
    for (const r of s.retired) {
      held.add(r.port);
      if (r.metricsPort !== undefined) held.add(r.metricsPort);
    }
  }
  return held;
}

/**
 * Reads, changes and writes a tenant's state in one synchronous step, so changes made elsewhere
 * (a process that restarted and got a new pid) are never overwritten by a stale copy.
 */
export function updateState(
  dir: string,
  tenant: { tenantId: string; slug: string },
  change: (state: TenantState) => void,
): TenantState {
  const state = readState(dir, tenant.tenantId) ?? {
    tenantId: tenant.tenantId,
    slug: tenant.slug,
    services: {},
    retired: [],
  };
  change(state);
  writeState(dir, state);
  return state;
}

/** Ports held by every tenant but `tenantId` (none excepted when undefined). */
export function takenBy(stateDir: string, tenantId: string | undefined): Set<number> {
  return portsHeld(listStates(stateDir).filter((s) => s.tenantId !== tenantId));
}

/** Where ports come from: the spec's host and range. */
interface PortSource {
  readonly host: string;
  readonly ports: { readonly from: number; readonly to: number };
}

/** A metrics port for a service that wants one (`preferred` when free); added to `taken`. */
export async function allocateMetrics(
  source: PortSource,
  svc: { readonly metricsPort: boolean },
  taken: Set<number>,
  preferred: number | undefined,
): Promise<number | undefined> {
  if (!svc.metricsPort) return undefined;
  const port = await choosePort(source.host, source.ports, taken, preferred);
  taken.add(port);
  return port;
}

/** Ports for one service (gRPC and, when it wants one, metrics), the `preferred` ones when free; added to `taken`. */
export async function allocate(
  source: PortSource,
  svc: { readonly metricsPort: boolean },
  taken: Set<number>,
  preferred?: { readonly port: number; readonly metricsPort?: number | undefined },
): Promise<{ port: number; metricsPort: number | undefined }> {
  const port = await choosePort(source.host, source.ports, taken, preferred?.port);
  taken.add(port);
  return { port, metricsPort: await allocateMetrics(source, svc, taken, preferred?.metricsPort) };
}
