import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A held `up.lock`; release it on the way out. */
export interface UpLock {
  path: string;
  release(): void;
}

/** Either the lock, or the pid of the live `up` that holds it. */
export type LockAttempt = { acquired: true; lock: UpLock } | { acquired: false; pid: number };

/** Whether a process with this pid exists and looks like a Node process (guards against pid reuse). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes("node");
  } catch {
    // No /proc (not Linux): trust the signal probe.
    return true;
  }
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number(JSON.parse(readFileSync(path, "utf8")).pid);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes `<home>/up.lock` atomically. A lock left by a dead process is taken over; a lock
 * whose process lives is reported with that pid.
 */
export function acquireLock(home: string): LockAttempt {
  mkdirSync(home, { recursive: true });
  const path = join(home, "up.lock");
  for (let attempt = 0; attempt < 3; attempt++) {
    // Written aside, then hard-linked into place: the lock appears atomically and never half-written.
    const draft = `${path}.${process.pid}`;
    writeFileSync(draft, JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() }));
    try {
      linkSync(draft, path);
      return {
        acquired: true,
        lock: {
          path,
          release: () => {
            if (readPid(path) === process.pid) rmSync(path, { force: true });
          },
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    } finally {
      rmSync(draft, { force: true });
    }
    const holder = readPid(path);
    if (holder !== undefined && isAlive(holder)) return { acquired: false, pid: holder };
    // Stale (dead pid) or unreadable (a crash mid-write): remove it, unless someone replaced it meanwhile.
    if (readPid(path) === holder) rmSync(path, { force: true });
  }
  throw new Error(`could not take ${path}: it keeps changing (another tessera up starting?)`);
}
