/**
 * Issue 4's scenario: A's member writes through GraphQL, A's API key reads the same data back
 * through REST (same ids, fields, versions), a change made through REST is read back through GraphQL.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { globalId, type Json, localId, projectKey, type Slice, startSlice } from "./setup.ts";

let slice: Slice;

beforeAll(async () => {
  slice = await startSlice();
});
afterAll(async () => {
  await slice?.stop();
});

const json = (text: string) => JSON.parse(text) as Json;

async function gqlData(token: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await slice.gql(token, query, variables);
  expect(res.status, res.text).toBe(200);
  const body = json(res.text);
  expect(body.errors, res.text).toBeUndefined();
  return body.data as Json;
}

it("writes through GraphQL, reads the same through REST, and back", async () => {
  const { a } = slice;
  const token = await a.member.accessToken();
  const key = projectKey();

  const created = await gqlData(
    token,
    `mutation($input: CreateProjectInput!) { createProject(input: $input) {
       __typename ... on CreateProjectSuccess { project { id name key description archived version createdAt updatedAt } }
       ... on Error { code message } } }`,
    { input: { name: "Website", key, description: "the public site" } },
  );
  expect(created.createProject.__typename, JSON.stringify(created)).toBe("CreateProjectSuccess");
  const project = created.createProject.project;
  const projectId = localId(project.id);
  expect(project.id).toBe(globalId("Project", projectId));

  const taskIds: string[] = [];
  const gqlTasks: Array<Json> = [];
  for (const [title, labels] of [
    ["Design", ["ui"]],
    ["Build", ["backend", "api"]],
  ] as const) {
    const res = await gqlData(
      token,
      `mutation($input: CreateTaskInput!) { createTask(input: $input) {
         __typename ... on CreateTaskSuccess { task { id title description status labels dueDate position version
           assignee { id } project { id } } } ... on Error { code message } } }`,
      {
        input: {
          projectId: project.id,
          title,
          labels,
          dueDate: "2031-05-01",
          assigneeId: globalId("User", a.member.userId),
        },
      },
    );
    expect(res.createTask.__typename, JSON.stringify(res)).toBe("CreateTaskSuccess");
    gqlTasks.push(res.createTask.task);
    taskIds.push(localId(res.createTask.task.id));
  }
  const comment = await gqlData(
    token,
    `mutation($input: AddCommentInput!) { addComment(input: $input) {
       __typename ... on AddCommentSuccess { comment { id body createdAt author { id } } } ... on Error { code message } } }`,
    { input: { taskId: gqlTasks[0]?.id, body: "looks good" } },
  );
  expect(comment.addComment.__typename, JSON.stringify(comment)).toBe("AddCommentSuccess");
  const commentId = localId(comment.addComment.comment.id);

  // REST with A's API key: the same ids, fields and versions
  const restKey = a.keys.member.key;
  const p = await slice.rest_(restKey, "GET", `/v1/projects/${projectId}`);
  expect(p.status, p.text).toBe(200);
  expect(json(p.text)).toMatchObject({
    id: projectId,
    name: "Website",
    key,
    description: "the public site",
    archived: false,
    version: project.version,
    created_at: project.createdAt,
    updated_at: project.updatedAt,
  });
  const list = await slice.rest_(restKey, "GET", `/v1/projects/${projectId}/tasks`);
  expect(list.status, list.text).toBe(200);
  const restTasks = json(list.text).data as Array<Json>;
  expect(restTasks.map((t) => t.id)).toEqual(taskIds);
  restTasks.forEach((t, i) => {
    const g = gqlTasks[i] as Json;
    expect(t).toMatchObject({
      project_id: projectId,
      title: g.title,
      description: g.description,
      status: String(g.status).toLowerCase(),
      labels: g.labels,
      due_date: g.dueDate,
      position: g.position,
      version: g.version,
      assignee_id: a.member.userId,
    });
    expect(g.assignee.id).toBe(globalId("User", a.member.userId));
    expect(g.project.id).toBe(project.id);
  });
  const comments = await slice.rest_(restKey, "GET", `/v1/tasks/${taskIds[0]}/comments`);
  expect(comments.status, comments.text).toBe(200);
  expect(json(comments.text).data).toEqual([
    {
      id: commentId,
      task_id: taskIds[0],
      author_id: a.member.userId,
      body: "looks good",
      created_at: comment.addComment.comment.createdAt,
    },
  ]);
  expect(comment.addComment.comment.author.id).toBe(globalId("User", a.member.userId));

  // a change through REST, read back through GraphQL
  const patched = await slice.rest_(restKey, "PATCH", `/v1/tasks/${taskIds[1]}`, {
    title: "Build it",
    status: "in_progress",
    labels: ["backend"],
    due_date: null,
  });
  expect(patched.status, patched.text).toBe(200);
  const restTask = json(patched.text);
  expect(restTask.version).toBeGreaterThan(gqlTasks[1]?.version);
  const back = await gqlData(
    token,
    `query($id: ID!) { task(id: $id) { id title status labels dueDate version updatedAt position project { id } } }`,
    { id: globalId("Task", taskIds[1] as string) },
  );
  expect(back.task).toEqual({
    id: globalId("Task", taskIds[1] as string),
    title: "Build it",
    status: "IN_PROGRESS",
    labels: ["backend"],
    dueDate: null,
    version: restTask.version,
    updatedAt: restTask.updated_at,
    position: restTask.position,
    project: { id: project.id },
  });
  const viaProject = await gqlData(
    token,
    `query($id: ID!) { project(id: $id) { tasks(first: 10) { edges { node { id version title } } } } }`,
    { id: project.id },
  );
  expect(viaProject.project.tasks.edges.map((e: Json) => e.node)).toEqual([
    { id: gqlTasks[0]?.id, version: gqlTasks[0]?.version, title: "Design" },
    { id: globalId("Task", taskIds[1] as string), version: restTask.version, title: "Build it" },
  ]);
});
