import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { dataOf } from "../support.ts";
import { createProject, createTask, type Env, gid } from "./env.ts";

/**
 * Tenant B's member against tenant A's data, field by field: every answer must be exactly what an
 * id that exists nowhere gets, and A's data must stay as it was.
 */
export function isolationScenarios(env: () => Env): void {
  describe("tenant isolation", () => {
    let aProject = "";
    let aTask = "";
    let aCursor = "";
    let bProject = "";
    const nowhere = {
      project: () => gid("Project", randomUUID()),
      task: () => gid("Task", randomUUID()),
      user: () => gid("User", randomUUID()),
    };

    beforeAll(async () => {
      const { gw, a, b } = env();
      aProject = await createProject(gw, a.tokens.member, "A secret");
      aTask = await createTask(gw, a.tokens.member, { projectId: aProject, title: "A's task" });
      await createTask(gw, a.tokens.member, { projectId: aProject, title: "A's second task" });
      const page = dataOf<{ projects: { pageInfo: { endCursor: string } } }>(
        await gw.gql(`{ projects(first: 1) { pageInfo { endCursor } } }`, {}, a.tokens.member),
      );
      aCursor = page.projects.pageInfo.endCursor;
      bProject = await createProject(gw, b.tokens.member, "B's own");
    });

    it("answers queries by id exactly like ids that exist nowhere (malformed and foreign-type ids too)", async () => {
      const { gw, a, b } = env();
      const ask = async (query: string, id: string) => (await gw.gql(query, { id }, b.tokens.member)).body;
      const project = `query($id: ID!) { project(id: $id) { id name } }`;
      const task = `query($id: ID!) { task(id: $id) { id title } }`;
      const node = `query($id: ID!) { node(id: $id) { id } }`;
      expect(await ask(project, aProject)).toEqual({ data: { project: null } });
      expect(await ask(project, aProject)).toEqual(await ask(project, nowhere.project()));
      expect(await ask(project, "not-an-id")).toEqual(await ask(project, nowhere.project()));
      expect(await ask(project, aTask)).toEqual(await ask(project, nowhere.project()));
      expect(await ask(task, aTask)).toEqual({ data: { task: null } });
      for (const id of [aProject, aTask, gid("User", a.users.owner.userId)]) {
        expect(await ask(node, id)).toEqual({ data: { node: null } });
      }
    });

    it("lists only the caller's tenant, and refuses another tenant's cursor like a garbage one", async () => {
      const { gw, b } = env();
      const mine = dataOf<{ projects: { edges: Array<{ node: { id: string } }> } }>(
        await gw.gql(`{ projects(first: 100) { edges { node { id } } } }`, {}, b.tokens.member),
      );
      expect(mine.projects.edges.map((e) => e.node.id)).toEqual([bProject]);
      const list = `query($after: String) { projects(first: 5, after: $after) { edges { node { id name } } } }`;
      const foreign = await gw.gql(list, { after: aCursor }, b.tokens.member);
      const garbage = await gw.gql(list, { after: "Z2FyYmFnZQ" }, b.tokens.member);
      expect(foreign.body.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      expect(foreign.body).toEqual(garbage.body);
      const tasks = `query($p: ID!, $after: String) { project(id: $p) { tasks(after: $after) { edges { node { id } } } } }`;
      const foreignTasks = await gw.gql(tasks, { p: bProject, after: aCursor }, b.tokens.member);
      expect(foreignTasks.body).toEqual(
        (await gw.gql(tasks, { p: bProject, after: "Z2FyYmFnZQ" }, b.tokens.member)).body,
      );
    });

    it("answers every write on A's objects exactly like one on an id that exists nowhere", async () => {
      const { gw, b } = env();
      const writes: Array<[string, (id: { project: string; task: string }) => Record<string, unknown>]> = [
        [
          `mutation($i: UpdateTaskInput!) { r: updateTask(input: $i) { __typename ... on Error { code message } } }`,
          (o) => ({ id: o.task, title: "pwned" }),
        ],
        [
          `mutation($i: MoveTaskInput!) { r: moveTask(input: $i) { __typename ... on Error { code message } } }`,
          (o) => ({ id: o.task }),
        ],
        [
          `mutation($i: DeleteTaskInput!) { r: deleteTask(input: $i) { __typename ... on Error { code message } } }`,
          (o) => ({ id: o.task }),
        ],
        [
          `mutation($i: AddCommentInput!) { r: addComment(input: $i) { __typename ... on Error { code message } } }`,
          (o) => ({ taskId: o.task, body: "pwned" }),
        ],
        [
          `mutation($i: CreateTaskInput!) { r: createTask(input: $i) { __typename ... on Error { code message } } }`,
          (o) => ({ projectId: o.project, title: "pwned" }),
        ],
        [
          `mutation($i: UpdateProjectInput!) { r: updateProject(input: $i) { __typename ... on Error { code message } } }`,
          (o) => ({ id: o.project, name: "pwned" }),
        ],
      ];
      for (const [mutation, input] of writes) {
        const theirs = await gw.gql(mutation, { i: input({ project: aProject, task: aTask }) }, b.tokens.member);
        const nobodys = await gw.gql(
          mutation,
          { i: input({ project: nowhere.project(), task: nowhere.task() }) },
          b.tokens.member,
        );
        expect(theirs.body, mutation).toEqual({
          data: { r: { __typename: "NotFoundError", code: "NOT_FOUND", message: "Not found." } },
        });
        expect(theirs.body).toEqual(nobodys.body);
      }
      const { a } = env();
      const still = await gw.gql(
        `query($id: ID!) { task(id: $id) { title comments { edges { node { id } } } project { name } } }`,
        { id: aTask },
        a.tokens.member,
      );
      expect(dataOf(still)).toEqual({
        task: { title: "A's task", comments: { edges: [] }, project: { name: "A secret" } },
      });
    });

    it("never shows A's people to B, even when B names them", async () => {
      const { gw, a, b } = env();
      const aOwner = gid("User", a.users.owner.userId);
      const task = await createTask(gw, b.tokens.member, { projectId: bProject, title: "B's", assigneeId: aOwner });
      const seen = await gw.gql(
        `query($id: ID!) { task(id: $id) { assignee { id email } } }`,
        { id: task },
        b.tokens.member,
      );
      expect(dataOf(seen)).toEqual({ task: { assignee: null } });
      const other = await gw.gql(`query($id: ID!) { node(id: $id) { id } }`, { id: nowhere.user() }, b.tokens.member);
      expect(other.body).toEqual({ data: { node: null } });
    });
  });
}
