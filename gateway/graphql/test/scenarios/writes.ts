import { getPlan } from "@tessera/platform/plans";
import { describe, expect, it } from "vitest";
import { dataOf } from "../support.ts";
import { createProject, createTask, type Env, gid, login } from "./env.ts";

const UPDATE = `mutation U($input: UpdateTaskInput!) {
  updateTask(input: $input) {
    __typename
    ... on UpdateTaskSuccess { task { id title status version labels dueDate assignee { id } } }
    ... on Error { code message }
  }
}`;

/** Every write, with its expected failures as schema types. */
export function writeScenarios(env: () => Env): void {
  describe("mutations", () => {
    it("creates a project, a task and a comment, and changes, moves and deletes tasks", async () => {
      const { gw, a } = env();
      const token = a.tokens.member;
      const projectId = await createProject(gw, token, "Launch");
      const first = await createTask(gw, token, { projectId, title: "Write copy", labels: ["web"] });
      const second = await createTask(gw, token, { projectId, title: "Ship" });
      const comment = await gw.gql(
        `mutation C($input: AddCommentInput!) { addComment(input: $input) {
          __typename ... on AddCommentSuccess { comment { body author { id } task { id } } } } }`,
        { input: { taskId: first, body: "Looks good" } },
        token,
      );
      expect(dataOf(comment)).toEqual({
        addComment: {
          __typename: "AddCommentSuccess",
          comment: { body: "Looks good", author: { id: gid("User", a.users.member.userId) }, task: { id: first } },
        },
      });

      const assign = gid("User", a.users.owner.userId);
      const updated = dataOf<{ updateTask: { task: { version: number } } }>(
        await gw.gql(
          UPDATE,
          { input: { id: first, status: "DONE", assigneeId: assign, dueDate: "2030-01-31" } },
          token,
        ),
      );
      expect(updated.updateTask).toMatchObject({
        __typename: "UpdateTaskSuccess",
        task: { status: "DONE", dueDate: "2030-01-31", labels: ["web"], assignee: { id: assign } },
      });
      const unassigned = dataOf(await gw.gql(UPDATE, { input: { id: first, assigneeId: null } }, token));
      expect(unassigned).toMatchObject({ updateTask: { task: { assignee: null } } });

      const moved = await gw.gql(
        `mutation M($input: MoveTaskInput!) { moveTask(input: $input) { __typename } }`,
        { input: { id: second, beforeTaskId: first } },
        token,
      );
      expect(dataOf(moved)).toEqual({ moveTask: { __typename: "MoveTaskSuccess" } });
      const order = dataOf<{ project: { tasks: { edges: Array<{ node: { id: string } }> } } }>(
        await gw.gql(
          `query($id: ID!) { project(id: $id) { tasks { edges { node { id } } } } }`,
          { id: projectId },
          token,
        ),
      );
      expect(order.project.tasks.edges.map((e) => e.node.id)).toEqual([second, first]);

      const deleted = await gw.gql(
        `mutation D($input: DeleteTaskInput!) { deleteTask(input: $input) { __typename ... on DeleteTaskSuccess { deletedTaskId } } }`,
        { input: { id: second } },
        token,
      );
      expect(dataOf(deleted)).toEqual({ deleteTask: { __typename: "DeleteTaskSuccess", deletedTaskId: second } });
      const gone = await gw.gql(`query($id: ID!) { task(id: $id) { id } }`, { id: second }, token);
      expect(gone.body).toEqual({ data: { task: null } });
    });

    it("answers refused input with a ValidationError naming the fields", async () => {
      const { gw, a } = env();
      const res = await gw.gql(
        `mutation { createProject(input: { name: "", key: "lower" }) {
          __typename ... on ValidationError { code fieldErrors { field } } } }`,
        {},
        a.tokens.member,
      );
      const result = dataOf<{
        createProject: { __typename: string; code: string; fieldErrors: Array<{ field: string }> };
      }>(res).createProject;
      expect(result.__typename).toBe("ValidationError");
      expect(result.code).toBe("BAD_USER_INPUT");
      expect(result.fieldErrors.map((f) => f.field).sort()).toEqual(["key", "name"]);
    });

    it("answers a create past the plan's quota with a typed QuotaExceededError { quota, limit }", async () => {
      const { gw, platform } = env();
      const tenant = await platform.seed.tenant({ plan: "free" });
      const token = await login(gw, await tenant.user("member"));
      const limit = getPlan("free").quotas.projects;
      for (let i = 0; i < limit; i++) await createProject(gw, token, `Quota ${i}`);
      const res = await gw.gql(
        `mutation { createProject(input: { name: "One too many", key: "QUOTA" }) {
          __typename ... on QuotaExceededError { code message quota limit } } }`,
        {},
        token,
      );
      expect(res.body).toEqual({
        data: {
          createProject: {
            __typename: "QuotaExceededError",
            code: "QUOTA_EXCEEDED",
            message: `quota exceeded: projects (limit ${limit} on plan free)`,
            quota: "projects",
            limit,
          },
        },
      });
    });

    it("answers a viewer's createProject with a typed ForbiddenError", async () => {
      const { gw, a } = env();
      const res = await gw.gql(
        `mutation { createProject(input: { name: "Nope", key: "NOPE" }) { __typename ... on Error { code } } }`,
        {},
        a.tokens.viewer,
      );
      expect(res.body).toEqual({ data: { createProject: { __typename: "ForbiddenError", code: "FORBIDDEN" } } });
    });

    it("answers a stale expectedVersion with a ConflictError and leaves the task as it was", async () => {
      const { gw, a } = env();
      const projectId = await createProject(gw, a.tokens.member);
      const taskId = await createTask(gw, a.tokens.member, { projectId, title: "Original" });
      await gw.gql(UPDATE, { input: { id: taskId, title: "Second" } }, a.tokens.member);
      const stale = dataOf(
        await gw.gql(UPDATE, { input: { id: taskId, title: "Lost", expectedVersion: 1 } }, a.tokens.member),
      );
      expect(stale).toMatchObject({ updateTask: { __typename: "ConflictError", code: "CONFLICT" } });
      const now = await gw.gql(`query($id: ID!) { task(id: $id) { title } }`, { id: taskId }, a.tokens.member);
      expect(dataOf(now)).toEqual({ task: { title: "Second" } });
    });
  });
}
