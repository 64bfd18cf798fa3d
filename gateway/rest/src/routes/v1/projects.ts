import type { Client } from "@connectrpc/connect";
import type { Project, ProjectService } from "@tessera/proto/tessera/projects/v1/projects_pb";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { etagOf, expectedVersionOf } from "../../etag.ts";
import { requiresScope } from "../../openapi.ts";
import {
  apiRoute,
  changeHeaders,
  createHeaders,
  createRoute,
  isoTime,
  listOf,
  nextCursor,
  pageQuery,
  pageRequest,
  pathId,
  problemResponses,
  readHeaders,
  timestamp,
  withEtag,
} from "./common.ts";

/** A project as the REST API shows it. */
export const ProjectSchema = z
  .object({
    id: z.string(),
    key: z.string().describe('Short, unique per tenant, upper case: "WEB", "OPS2"'),
    name: z.string(),
    description: z.string(),
    archived: z.boolean().describe("Archived projects take no new tasks and are left out of lists by default"),
    created_at: timestamp(),
    updated_at: timestamp(),
    version: z.int().describe("Changes on every update; the ETag is derived from it"),
  })
  .meta({ id: "Project" });

type ProjectView = z.infer<typeof ProjectSchema>;

/** The contract's project as the REST representation. */
export function projectView(p: Project | undefined): ProjectView {
  if (!p) throw new Error("projects answered without a project");
  return {
    id: p.id,
    key: p.key,
    name: p.name,
    description: p.description,
    archived: p.archived,
    created_at: isoTime(p.createTime),
    updated_at: isoTime(p.updateTime),
    version: Number(p.version),
  };
}

const name = z.string().min(1).max(200);
const description = z.string().max(10_000);

const CreateProjectBody = z.strictObject({
  name,
  key: z
    .string()
    .regex(/^[A-Z][A-Z0-9]{1,9}$/, "must be 2–10 upper-case letters or digits, starting with a letter")
    .describe("Short, unique per tenant"),
  description: description.optional(),
});

const UpdateProjectBody = z
  .strictObject({ name: name.optional(), description: description.optional() })
  .refine((b) => Object.keys(b).length > 0, "give at least one field to change");

const projectParams = z.object({ projectId: z.string().describe("Project id (UUID)") });

/** /v1/projects: list, create, read, update, archive (DELETE). */
export function projectRoutes(app: FastifyInstance, projects: Client<typeof ProjectService>): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ["projects"];

  r.get(
    "/v1/projects",
    {
      config: apiRoute,
      schema: {
        operationId: "listProjects",
        security: requiresScope("projects.read"),
        summary: "List projects",
        tags,
        querystring: z.object({
          ...pageQuery,
          include_archived: z.enum(["true", "false"]).optional().describe("Include archived projects (default false)"),
        }),
        response: { 200: listOf(ProjectSchema, "ProjectList"), ...problemResponses(400, 403) },
      },
    },
    async (req) => {
      const res = await projects.listProjects({
        page: pageRequest(req.query),
        includeArchived: req.query.include_archived === "true",
      });
      return { data: res.projects.map(projectView), next_cursor: nextCursor(res.page) };
    },
  );

  r.post(
    "/v1/projects",
    {
      config: createRoute,
      schema: {
        operationId: "createProject",
        security: requiresScope("projects.write"),
        summary: "Create a project",
        tags,
        headers: createHeaders,
        body: CreateProjectBody,
        response: { 201: ProjectSchema, ...problemResponses(400, 403, 409, 413, 415, 422) },
      },
    },
    async (req, reply) => {
      const res = await projects.createProject({
        name: req.body.name,
        key: req.body.key,
        description: req.body.description ?? "",
      });
      const view = projectView(res.project);
      reply.code(201).header("location", `/v1/projects/${view.id}`).header("etag", etagOf(view.version));
      return view;
    },
  );

  r.get(
    "/v1/projects/:projectId",
    {
      config: apiRoute,
      schema: {
        operationId: "getProject",
        security: requiresScope("projects.read"),
        summary: "Get a project",
        tags,
        params: projectParams,
        headers: readHeaders,
        "x-tessera-etag": true,
        response: { 200: ProjectSchema, ...problemResponses(403, 404) },
      },
    },
    async (req, reply) => {
      const res = await projects.getProject({ projectId: pathId(req.params.projectId) });
      const view = projectView(res.project);
      return withEtag(req, reply, view.version, view);
    },
  );

  r.patch(
    "/v1/projects/:projectId",
    {
      config: apiRoute,
      schema: {
        operationId: "updateProject",
        security: requiresScope("projects.write"),
        summary: "Update a project (name, description)",
        tags,
        params: projectParams,
        headers: changeHeaders,
        body: UpdateProjectBody,
        response: { 200: ProjectSchema, ...problemResponses(400, 403, 404, 409, 412, 413, 415) },
      },
    },
    async (req, reply) => {
      const projectId = pathId(req.params.projectId);
      const res = await projects.updateProject({
        projectId,
        updateMask: { paths: Object.keys(req.body) },
        name: req.body.name ?? "",
        description: req.body.description ?? "",
        expectedVersion: expectedVersionOf(req.headers["if-match"]),
      });
      const view = projectView(res.project);
      reply.header("etag", etagOf(view.version));
      return view;
    },
  );

  r.delete(
    "/v1/projects/:projectId",
    {
      config: apiRoute,
      schema: {
        operationId: "archiveProject",
        security: requiresScope("projects.archive"),
        summary: "Archive a project",
        description:
          "Projects are archived, not erased: the project stays readable (`archived: true`), takes no new tasks and is left out of lists unless `include_archived=true`. Repeating the call changes nothing.",
        tags,
        params: projectParams,
        headers: changeHeaders,
        response: { 204: z.undefined().describe("Archived"), ...problemResponses(403, 404, 412) },
      },
    },
    async (req, reply) => {
      const projectId = pathId(req.params.projectId);
      await projects.archiveProject({ projectId, expectedVersion: expectedVersionOf(req.headers["if-match"]) });
      return reply.code(204).send();
    },
  );
}
