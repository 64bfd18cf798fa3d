import { describe, expect, it } from "vitest";
import { dataOf, type RunningGateway, startExtraGateway } from "../support.ts";
import { createProject, createTask, type Env, gid, login } from "./env.ts";

const NESTED = `query Board($id: ID!, $first: Int, $assignee: ID) {
  project(id: $id) {
    name
    tasks(first: $first, assigneeId: $assignee) {
      edges { node { title project { name } assignee { displayName } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;

const BOARDS = `query Boards($n: Int) {
  projects(first: $n) { edges { node { name tasks(first: 20) { edges { node {
    id title assignee { id }
    comments(first: 5) { edges { node { body } } pageInfo { hasNextPage endCursor } }
  } } } } } }
}`;

interface Boards {
  projects: {
    edges: Array<{
      node: {
        name: string;
        tasks: {
          edges: Array<{
            node: {
              id: string;
              title: string;
              assignee: { id: string } | null;
              comments: {
                edges: Array<{ node: { body: string } }>;
                pageInfo: { hasNextPage: boolean; endCursor: string | null };
              };
            };
          }>;
        };
      };
    }>;
  };
}

/** Creates `count` tasks, assigned round-robin to `assignees` (a few at a time). */
async function fill(gw: RunningGateway, token: string, projectId: string, count: number, assignees: string[]) {
  for (let i = 0; i < count; i += 10) {
    await Promise.all(
      Array.from({ length: Math.min(10, count - i) }, (_, j) =>
        createTask(gw, token, { projectId, title: `T${i + j}`, assigneeId: assignees[(i + j) % assignees.length] }),
      ),
    );
  }
}

/** Nested reads, filters, pagination and batching. */
export function readScenarios(env: () => Env): void {
  describe("reads", () => {
    it("reads projects → tasks → assignee → comments in one query, filtered and paged by cursor", async () => {
      const { gw, a } = env();
      const token = a.tokens.member;
      const projectId = await createProject(gw, token, "Nested");
      const owner = gid("User", a.users.owner.userId);
      const t1 = await createTask(gw, token, { projectId, title: "one", assigneeId: owner, labels: ["x"] });
      await createTask(gw, token, { projectId, title: "two" });
      await createTask(gw, token, { projectId, title: "three", assigneeId: owner });
      await gw.gql(
        `mutation($t: ID!) { addComment(input: { taskId: $t, body: "hi" }) { __typename } }`,
        { t: t1 },
        token,
      );

      const page1 = dataOf<{ project: { tasks: { pageInfo: { endCursor: string; hasNextPage: boolean } } } }>(
        await gw.gql(NESTED, { id: projectId, first: 2 }, token),
      );
      expect(page1.project).toMatchObject({
        name: "Nested",
        tasks: {
          edges: [
            { node: { title: "one", project: { name: "Nested" }, assignee: { displayName: "owner" } } },
            { node: { title: "two", project: { name: "Nested" }, assignee: null } },
          ],
          pageInfo: { hasNextPage: true },
        },
      });
      const page2 = await gw.gql(
        `query($id: ID!, $after: String) { project(id: $id) { tasks(first: 2, after: $after) {
          edges { node { title } } pageInfo { hasNextPage } } } }`,
        { id: projectId, after: page1.project.tasks.pageInfo.endCursor },
        token,
      );
      expect(dataOf(page2)).toEqual({
        project: { tasks: { edges: [{ node: { title: "three" } }], pageInfo: { hasNextPage: false } } },
      });
      const filtered = await gw.gql(NESTED, { id: projectId, assignee: owner }, token);
      const titles = (
        dataOf<{ project: { tasks: { edges: Array<{ node: { title: string } }> } } }>(filtered).project.tasks
          .edges as Array<{ node: { title: string } }>
      ).map((e) => e.node.title);
      expect(titles).toEqual(["one", "three"]);
      const comments = await gw.gql(
        `query($id: ID!) { task(id: $id) { comments { edges { node { body author { displayName } } } } } }`,
        { id: t1 },
        token,
      );
      expect(dataOf(comments)).toEqual({
        task: { comments: { edges: [{ node: { body: "hi", author: { displayName: "member" } } }] } },
      });
    });

    it("batches projects, tasks and users: the calls per query do not grow with the list (10 vs 100)", async () => {
      const { gw, a, counter } = env();
      const token = a.tokens.owner;
      const assignees = [a.users.owner, a.users.member, a.users.viewer].map((u) => gid("User", u.userId));
      const small = await createProject(gw, token, "Small");
      const large = await createProject(gw, token, "Large");
      await fill(gw, token, small, 10, assignees);
      await fill(gw, token, large, 100, assignees);

      const run = async (id: string, first: number) => {
        const { result, calls } = await counter.during(() => gw.gql(NESTED, { id, first }, token));
        const edges = dataOf<{ project: { tasks: { edges: Array<{ node: { assignee: unknown } }> } } }>(result).project
          .tasks.edges;
        expect(edges).toHaveLength(first);
        expect(edges.every((e) => e.node.assignee !== null)).toBe(true);
        return calls.sort();
      };
      const ten = await run(small, 10);
      const hundred = await run(large, 100);
      expect(hundred).toEqual(ten);
      expect(ten).toEqual([
        "tessera.identity.v1.UserService/BatchGetUsers",
        "tessera.projects.v1.ProjectService/BatchGetProjects",
        "tessera.projects.v1.TaskService/BatchListTasks",
      ]);

      // twenty tasks fetched by id in one operation: one BatchGetTasks
      const listed = dataOf<{ project: { tasks: { edges: Array<{ node: { id: string } }> } } }>(
        await gw.gql(
          `query($id: ID!) { project(id: $id) { tasks(first: 20) { edges { node { id } } } } }`,
          { id: large },
          token,
        ),
      ).project.tasks.edges.map((e) => e.node.id);
      const aliases = listed.map((id, i) => `t${i}: node(id: "${id}") { id }`).join("\n");
      const { calls } = await counter.during(() => gw.gql(`{ ${aliases} }`, {}, token));
      expect(calls).toEqual(["tessera.projects.v1.TaskService/BatchGetTasks"]);
    });

    it("batches lists under lists: projects → tasks → assignee, comments make the same calls for 2 and 20 projects", async () => {
      const { platform, gw, counter } = env();
      // a tenant of its own, so that `projects` lists exactly what this test made
      const tenant = await platform.seed.tenant();
      const owner = await tenant.user("owner");
      const token = await login(gw, owner);
      const assignee = gid("User", owner.userId);
      const projects: string[] = [];
      for (let i = 0; i < 20; i += 10) {
        projects.push(
          ...(await Promise.all(Array.from({ length: 10 }, (_, j) => createProject(gw, token, `B${i + j}`)))),
        );
      }
      const tasks = (
        await Promise.all(
          projects.map(async (projectId) => [
            await createTask(gw, token, { projectId, title: "first", assigneeId: assignee }),
            await createTask(gw, token, { projectId, title: "second" }),
          ]),
        )
      ).flat();
      const commented = tasks[0] as string;
      for (const body of ["c1", "c2", "c3", "c4", "c5", "c6"]) {
        await gw.gql(
          `mutation($t: ID!, $b: String!) { addComment(input: { taskId: $t, body: $b }) { __typename } }`,
          { t: commented, b: body },
          token,
        );
      }
      // 20 × 20 × 5 comments is beyond the default cost limit: a gateway over the same clients that allows it
      const roomy = await startExtraGateway(gw, { GRAPHQL_MAX_COMPLEXITY: 50_000 });
      try {
        const run = async (n: number) => {
          const { result, calls } = await counter.during(() => roomy.gql(BOARDS, { n }, token));
          return { boards: dataOf<Boards>(result).projects.edges.map((e) => e.node), calls: calls.sort() };
        };
        const two = await run(2);
        const twenty = await run(20);
        expect(twenty.calls).toEqual(two.calls);
        expect(two.calls).toEqual([
          "tessera.identity.v1.UserService/BatchGetUsers",
          "tessera.projects.v1.ProjectService/ListProjects",
          "tessera.projects.v1.TaskService/BatchListComments",
          "tessera.projects.v1.TaskService/BatchListTasks",
        ]);
        expect(twenty.boards).toHaveLength(20);
        for (const board of twenty.boards) {
          expect(board.tasks.edges.map((e) => [e.node.title, e.node.assignee?.id ?? null])).toEqual([
            ["first", assignee],
            ["second", null],
          ]);
        }
        const first = twenty.boards.find((b) => b.tasks.edges[0]?.node.id === commented)?.tasks.edges[0]?.node;
        expect(first?.comments.edges.map((e) => e.node.body)).toEqual(["c1", "c2", "c3", "c4", "c5"]);
        expect(first?.comments.pageInfo.hasNextPage).toBe(true);
        // the batch's cursor continues with the single-task list
        const rest = await gw.gql(
          `query($id: ID!, $after: String) { task(id: $id) { comments(first: 5, after: $after) {
            edges { node { body } } pageInfo { hasNextPage } } } }`,
          { id: commented, after: first?.comments.pageInfo.endCursor },
          token,
        );
        expect(dataOf(rest)).toEqual({
          task: { comments: { edges: [{ node: { body: "c6" } }], pageInfo: { hasNextPage: false } } },
        });
      } finally {
        await roomy.stop();
      }
    });
  });
}
