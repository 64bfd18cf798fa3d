import type { ServiceImpl } from "@connectrpc/connect";
import type { ProjectService } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { projectToProto } from "../contract.ts";
import {
  archiveProject,
  batchGetProjects,
  createProject,
  getProject,
  listProjects,
  updateProject,
} from "../domain/projects.ts";
import { type HandlerDeps, maskPaths, pageOf, versionOf } from "./context.ts";

/** ProjectService: CreateProject, GetProject, BatchGetProjects, ListProjects, UpdateProject, ArchiveProject. */
export function projectHandlers(deps: HandlerDeps): ServiceImpl<typeof ProjectService> {
  return {
    async createProject(req) {
      const project = await createProject(deps, { key: req.key, name: req.name, description: req.description });
      return { project: projectToProto(project) };
    },
    async getProject(req) {
      return { project: projectToProto(await getProject(deps, req.projectId)) };
    },
    async batchGetProjects(req) {
      return { projects: (await batchGetProjects(deps, req.projectIds)).map(projectToProto) };
    },
    async listProjects(req) {
      const page = await listProjects(deps, { includeArchived: req.includeArchived }, pageOf(req.page));
      return { projects: page.items.map(projectToProto), page: { nextPageToken: page.nextPageToken } };
    },
    async updateProject(req) {
      const mask = maskPaths(req.updateMask?.paths, ["name", "description"]);
      const project = await updateProject(
        deps,
        req.projectId,
        {
          name: mask.has("name") ? req.name : undefined,
          description: mask.has("description") ? req.description : undefined,
        },
        versionOf(req.expectedVersion),
      );
      return { project: projectToProto(project) };
    },
    async archiveProject(req) {
      const project = await archiveProject(deps, req.projectId, versionOf(req.expectedVersion));
      return { project: projectToProto(project) };
    },
  };
}
