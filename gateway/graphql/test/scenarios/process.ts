import { type RunningService, runMain, startMain, stopMain } from "@tessera/test/harness";
import { afterAll, describe, expect, it } from "vitest";
import { dataOf, postGql, subscribe } from "../support.ts";
import { createProject, type Env, LOGIN, loginInput } from "./env.ts";

const main = new URL("../../src/main.ts", import.meta.url).pathname;

/** The gateway as Kubernetes runs it: `node src/main.ts`, configured by environment only. */
export function processScenarios(env: () => Env): void {
  describe("as a process", () => {
    let proc: RunningService | undefined;
    afterAll(async () => {
      if (proc) await stopMain(proc);
    });

    it("refuses to start with a missing variable, naming it", async () => {
      const { platform } = env();
      const { PROJECTS_URL: _omitted, ...rest } = platform.gatewayEnv("edge");
      const run = runMain(main, { ...rest, PORT: "0", METRICS_PORT: "0" }, "graphql-badconfig");
      const { code } = await run.exited;
      expect(code).toBe(1);
      expect(run.stderr()).toMatch(/PROJECTS_URL/);
    });

    it("serves health, GraphQL and /metrics, and on SIGTERM ends open subscriptions and exits 0", async () => {
      const { platform, a, gw } = env();
      proc = await startMain(
        main,
        { ...platform.gatewayEnv("edge"), PORT: "0", METRICS_PORT: "0" },
        { logName: "graphql" },
      );
      expect((await fetch(`${proc.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${proc.url}/readyz`)).status).toBe(200);

      const url = `${proc.url}/graphql`;
      const signedIn = await postGql(url, LOGIN, { input: loginInput(a.users.member) });
      const token = dataOf<{ login: { tokens: { accessToken: string } } }>(signedIn).login.tokens.accessToken;
      const me = await postGql(url, `query ProcessMe { viewer { user { displayName } } }`, {}, token);
      expect(dataOf(me)).toEqual({ viewer: { user: { displayName: "member" } } });

      const metricsUrl = String(proc.lines().find((l) => l.msg === "listening")?.metrics);
      const metrics = await (await fetch(metricsUrl)).text();
      expect(metrics).toMatch(/graphql_operation_requests_total\{[^}]*operation_name="ProcessMe"/);
      expect(metrics).toMatch(/rpc_client_duration/);

      const project = await createProject(gw, a.tokens.member, "Process live");
      const stream = await subscribe(url, `subscription { taskEvents(projectId: "${project}") { type } }`, {}, token);
      expect(stream.status).toBe(200);
      const code = await stopMain(proc);
      expect(code).toBe(0);
      expect(proc.lines().some((l) => l.msg === "stopped" && l.forced === false)).toBe(true);
      stream.close();
      const logText = proc.stdout();
      expect(logText).not.toContain(token);
      expect(logText).not.toContain(a.users.member.password);
      proc = undefined;
    });
  });
}
