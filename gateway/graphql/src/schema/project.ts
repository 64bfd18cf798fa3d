import { isMessage } from "@bufbuild/protobuf";
import { type Project, ProjectSchema } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { builder } from "../builder.ts";
import type { GatewayContext } from "../context.ts";
import { parseGlobalId, requireGlobalId } from "../global-id.ts";
import { fetchConnection } from "../pagination.ts";
import { connectionComplexity, DateTime, pageArgs, QUOTA_WRITE_ERRORS, resultTypes, toDate } from "./common.ts";

/**
 * A tenant's project. Loaded through BatchGetProjects (one call per request for all projects a
 * query touches); another tenant's project is indistinguishable from one that does not exist.
 */
export const ProjectRef = builder.loadableNode("Project", {
  description: "A project of the caller's tenant.",
  id: { resolve: (project) => project.id },
  isTypeOf: (value) => isMessage(value, ProjectSchema),
  load: async (ids: string[], ctx: GatewayContext): Promise<Project[]> =>
    (await ctx.rpc.projects.batchGetProjects({ projectIds: ids })).projects,
  sort: (project) => project.id,
  loaderOptions: { maxBatchSize: 500 },
  fields: (t) => ({
    name: t.exposeString("name"),
    key: t.exposeString("key", { description: 'Short, unique per tenant, upper-case ("WEB").' }),
    description: t.exposeString("description"),
    archived: t.exposeBoolean("archived"),
    version: t.int({ description: "Grows on every change (for expectedVersion).", resolve: (p) => Number(p.version) }),
    createdAt: t.field({ type: DateTime, resolve: (p) => toDate(p.createTime) }),
    updatedAt: t.field({ type: DateTime, resolve: (p) => toDate(p.updateTime) }),
  }),
});

/** `ProjectConnection` / `ProjectEdge`. */
export const ProjectConnection = builder.connectionObject(
  { type: ProjectRef, name: "ProjectConnection", edgesNullable: false, nodeNullable: false },
  { name: "ProjectEdge" },
);

builder.queryFields((t) => ({
  project: t.field({
    type: ProjectRef,
    nullable: true,
    description: "A project by id; null when it does not exist or is not visible.",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args) => parseGlobalId(String(args.id), "Project") ?? null,
  }),
  projects: t.field({
    type: ProjectConnection,
    description: "The tenant's projects, oldest first.",
    args: { ...pageArgs, includeArchived: t.arg.boolean({ defaultValue: false, required: true }) },
    complexity: connectionComplexity,
    resolve: (_root, args, ctx) =>
      fetchConnection(args, ctx.pages, async (pageToken, pageSize) => {
        const res = await ctx.rpc.projects.listProjects({
          page: { pageToken, pageSize },
          includeArchived: args.includeArchived,
        });
        const loader = ProjectRef.getDataloader(ctx);
        for (const p of res.projects) loader.prime(p.id, p);
        return { items: res.projects, nextPageToken: res.page?.nextPageToken ?? "" };
      }),
  }),
}));

const CreateProjectInput = builder.inputType("CreateProjectInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    key: t.string({ required: true, description: 'Upper-case letters and digits, 2–10, e.g. "WEB".' }),
    description: t.string({ required: false }),
  }),
});

const UpdateProjectInput = builder.inputType("UpdateProjectInput", {
  description: "Fields left out stay as they are.",
  fields: (t) => ({
    id: t.id({ required: true }),
    name: t.string({ required: false }),
    description: t.string({ required: false }),
    expectedVersion: t.int({ required: false, description: "Apply only if the project is still at this version." }),
  }),
});

const ArchiveProjectInput = builder.inputType("ArchiveProjectInput", {
  fields: (t) => ({
    id: t.id({ required: true }),
    expectedVersion: t.int({ required: false }),
  }),
});

const version = (v: number | null | undefined) => BigInt(v ?? 0);

function project(res: { project?: Project | undefined }): Project {
  if (!res.project) throw new Error("projects answered without a project");
  return res.project;
}

builder.mutationFields((t) => ({
  createProject: t.field({
    type: ProjectRef,
    description: "Adds a project (members and above).",
    args: { input: t.arg({ type: CreateProjectInput, required: true }) },
    errors: resultTypes("CreateProject", "project", QUOTA_WRITE_ERRORS),
    resolve: async (_root, { input }, ctx) =>
      project(
        await ctx.rpc.projects.createProject({
          name: input.name,
          key: input.key,
          description: input.description ?? "",
        }),
      ),
  }),
  updateProject: t.field({
    type: ProjectRef,
    description: "Changes name and/or description (members and above).",
    args: { input: t.arg({ type: UpdateProjectInput, required: true }) },
    errors: resultTypes("UpdateProject", "project", QUOTA_WRITE_ERRORS),
    resolve: async (_root, { input }, ctx) => {
      const paths = [...(input.name != null ? ["name"] : []), ...(input.description != null ? ["description"] : [])];
      return project(
        await ctx.rpc.projects.updateProject({
          projectId: requireGlobalId(String(input.id), "Project"),
          updateMask: { paths },
          name: input.name ?? "",
          description: input.description ?? "",
          expectedVersion: version(input.expectedVersion),
        }),
      );
    },
  }),
  archiveProject: t.field({
    type: ProjectRef,
    description: "Archives a project (admins and owners); archived projects take no new tasks.",
    args: { input: t.arg({ type: ArchiveProjectInput, required: true }) },
    errors: resultTypes("ArchiveProject", "project"),
    resolve: async (_root, { input }, ctx) =>
      project(
        await ctx.rpc.projects.archiveProject({
          projectId: requireGlobalId(String(input.id), "Project"),
          expectedVersion: version(input.expectedVersion),
        }),
      ),
  }),
}));
