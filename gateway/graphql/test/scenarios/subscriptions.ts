import { describe, expect, it } from "vitest";
import { subscribe } from "../support.ts";
import { createProject, createTask, type Env, gid } from "./env.ts";

const EVENTS = `subscription Live($p: ID!) { taskEvents(projectId: $p) { type changedFields task { id title project { name } } } }`;

type Next = { data?: { taskEvents?: { type: string; task: { id: string; title: string } } }; errors?: unknown[] };
const titles = (events: Array<Record<string, unknown>>) =>
  events.map((e) => (e as Next).data?.taskEvents?.task.title).filter((t) => t !== undefined);

/** taskEvents over SSE, fed from NATS, each subscriber only ever seeing its own tenant's events. */
export function subscriptionScenarios(env: () => Env): void {
  describe("subscriptions", () => {
    it("delivers the project's task events to its tenant's subscribers only", async () => {
      const { gw, a, b } = env();
      const aProject = await createProject(gw, a.tokens.member, "Live A");
      const aOther = await createProject(gw, a.tokens.member, "Live A other");
      const bProject = await createProject(gw, b.tokens.member, "Live B");
      const aStream = await subscribe(gw.url, EVENTS, { p: aProject }, a.tokens.viewer);
      const bStream = await subscribe(gw.url, EVENTS, { p: bProject }, b.tokens.member);
      try {
        expect(aStream.status).toBe(200);
        // subscriptions are live once the gateway has subscribed on NATS; a first event proves it
        await createTask(gw, a.tokens.member, { projectId: aProject, title: "warm-up A" });
        await createTask(gw, b.tokens.member, { projectId: bProject, title: "warm-up B" });
        await aStream.until((e) => titles(e).includes("warm-up A"));
        await bStream.until((e) => titles(e).includes("warm-up B"));

        const secret = await createTask(gw, a.tokens.member, { projectId: aProject, title: "A only" });
        await createTask(gw, a.tokens.member, { projectId: aOther, title: "other project" });
        await gw.gql(
          `mutation($i: UpdateTaskInput!) { updateTask(input: $i) { __typename } }`,
          { i: { id: secret, status: "DONE" } },
          a.tokens.member,
        );
        await aStream.until((e) => e.some((x) => (x as Next).data?.taskEvents?.type === "COMPLETED"));
        // task.updated (with what changed) is published with task.completed, in order, per tenant
        const updated = aStream.events.find((x) => (x as Next).data?.taskEvents?.type === "UPDATED");
        expect(updated).toMatchObject({ data: { taskEvents: { changedFields: ["status"], task: { id: secret } } } });
        // a later event of B's own arrives after A's: had B's stream been sent A's events, they would be here
        await createTask(gw, b.tokens.member, { projectId: bProject, title: "B later" });
        await bStream.until((e) => titles(e).includes("B later"));

        expect(titles(bStream.events)).toEqual(["warm-up B", "B later"]);
        expect(titles(aStream.events)).not.toContain("other project");
        expect(aStream.events.map((e) => (e as Next).data?.taskEvents?.type)).toContain("CREATED");
        expect(aStream.events.find((e) => titles([e])[0] === "A only")).toMatchObject({
          data: { taskEvents: { task: { id: secret, project: { name: "Live A" } } } },
        });
      } finally {
        aStream.close();
        bStream.close();
      }
    });

    it("refuses a subscription to another tenant's project exactly like one to a project that does not exist", async () => {
      const { gw, a, b } = env();
      const aProject = await createProject(gw, a.tokens.member, "Not for B");
      const theirs = await subscribe(gw.url, EVENTS, { p: aProject }, b.tokens.member);
      const nowhere = await subscribe(
        gw.url,
        EVENTS,
        { p: gid("Project", "00000000-0000-4000-8000-000000000001") },
        b.tokens.member,
      );
      try {
        await theirs.until((e) => e.length > 0);
        await nowhere.until((e) => e.length > 0);
        expect(theirs.events[0]).toMatchObject({ errors: [{ extensions: { code: "NOT_FOUND" } }] });
        expect(theirs.events).toEqual(nowhere.events);
      } finally {
        theirs.close();
        nowhere.close();
      }
    });
  });
}
