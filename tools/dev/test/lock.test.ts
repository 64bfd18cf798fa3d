import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { acquireLock } from "../src/up/lock.ts";

const homes: string[] = [];
afterEach(() => {
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
});
const home = () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-lock-"));
  homes.push(dir);
  return dir;
};

describe("up.lock", () => {
  it("is held by one process at a time and freed on release", () => {
    const dir = home();
    const first = acquireLock(dir);
    if (!first.acquired) throw new Error("first attempt should get the lock");
    expect(JSON.parse(readFileSync(join(dir, "up.lock"), "utf8")).pid).toBe(process.pid);
    expect(acquireLock(dir)).toEqual({ acquired: false, pid: process.pid });
    first.lock.release();
    expect(existsSync(join(dir, "up.lock"))).toBe(false);
    const again = acquireLock(dir);
    expect(again.acquired).toBe(true);
    if (again.acquired) again.lock.release();
  });

  it("takes over a lock whose process is gone, and one left half-written", () => {
    const dir = home();
    const dead = spawnSync(process.execPath, ["-e", ""]).pid;
    writeFileSync(join(dir, "up.lock"), JSON.stringify({ pid: dead }));
    const taken = acquireLock(dir);
    expect(taken.acquired).toBe(true);
    if (taken.acquired) taken.lock.release();
    writeFileSync(join(dir, "up.lock"), '{"pi');
    expect(acquireLock(dir).acquired).toBe(true);
  });
});
