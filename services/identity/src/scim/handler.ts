import { type TxEntityManager, withTenantTransaction } from "@tessera/platform/db";
import type { IdentityDeps } from "../domain/deps.ts";
import { ScimError } from "./errors.ts";
import { type FilterSchema, filterToSql, type SqlWhere } from "./filter.ts";
import { applyPatch, paging, project, type Resource, requireIfMatch } from "./resource.ts";
import type { ScimRequest, ScimResponse } from "./router.ts";
import { LIST_SCHEMA } from "./schemas.ts";

/** A stored resource and how it renders. */
export interface Loaded<R> {
  record: R;
  resource: Resource;
}

/** What one SCIM resource type (Users, Groups) plugs into {@link handleResource}. */
export interface ResourceType<R, I> {
  /** The collection's path segment, `Users` or `Groups`. */
  collection: string;
  /** The singular name used in errors, `User` or `Group`. */
  noun: string;
  urn: string;
  filter: FilterSchema;
  /** Lower-cased attribute names a PATCH path may name. */
  known: ReadonlySet<string>;
  parse(body: unknown): I;
  /** The resource or a 404. */
  load(em: TxEntityManager, tenantId: string, id: string, base: string, lock?: boolean): Promise<Loaded<R>>;
  /** One page of rendered (not yet projected) resources. */
  list(
    em: TxEntityManager,
    req: ScimRequest,
    where: SqlWhere,
    offset: number,
    limit: number,
  ): Promise<{ resources: Resource[]; total: number }>;
  create(deps: IdentityDeps, em: TxEntityManager, tenantId: string, input: I): Promise<string>;
  update(deps: IdentityDeps, em: TxEntityManager, tenantId: string, current: R, input: I): Promise<unknown>;
  remove(deps: IdentityDeps, em: TxEntityManager, tenantId: string, id: string): Promise<unknown>;
  /** Refuses a PATCH result that changes what the type does not let PATCH change. */
  checkPatched?(wanted: Resource, current: Resource): void;
}

/** `/<collection>` and `/<collection>/{id}`: list, create, get, replace, patch and delete with ETags. */
export async function handleResource<R, I>(type: ResourceType<R, I>, req: ScimRequest): Promise<ScimResponse> {
  const { deps, tenantId, base, id } = req;
  const tx = <T>(fn: (em: TxEntityManager) => Promise<T>) => withTenantTransaction(deps.orm, fn);
  if (id === undefined) {
    if (req.method === "GET") {
      const where = filterToSql(req.params.get("filter"), type.filter);
      const { offset, limit } = paging(req.params);
      return tx(async (em) => {
        const { resources, total } = await type.list(em, req, where, offset, limit);
        return {
          status: 200,
          body: {
            schemas: [LIST_SCHEMA],
            totalResults: total,
            startIndex: offset + 1,
            itemsPerPage: resources.length,
            Resources: resources.map((r) => project(r, req.params, type.urn)),
          },
        };
      });
    }
    if (req.method === "POST") {
      const input = type.parse(req.body);
      return tx(async (em) => {
        const newId = await type.create(deps, em, tenantId, input);
        const { resource } = await type.load(em, tenantId, newId, base);
        return { status: 201, body: resource, location: `${base}/${type.collection}/${newId}` };
      });
    }
    throw new ScimError(405, `use GET or POST on /${type.collection}`);
  }
  switch (req.method) {
    case "GET":
      return tx(async (em) => ({
        status: 200,
        body: project((await type.load(em, tenantId, id, base)).resource, req.params, type.urn),
      }));
    case "PUT":
    case "PATCH":
      return tx(async (em) => {
        const current = await type.load(em, tenantId, id, base, true);
        requireIfMatch(req.headers["if-match"], current.resource);
        if (req.method === "PUT") {
          await type.update(deps, em, tenantId, current.record, type.parse(req.body));
        } else {
          const wanted = applyPatch(current.resource, req.body, type.known, type.urn);
          type.checkPatched?.(wanted, current.resource);
          await type.update(deps, em, tenantId, current.record, type.parse(wanted));
        }
        return { status: 200, body: (await type.load(em, tenantId, id, base)).resource };
      });
    case "DELETE":
      return tx(async (em) => {
        const current = await type.load(em, tenantId, id, base, true);
        requireIfMatch(req.headers["if-match"], current.resource);
        await type.remove(deps, em, tenantId, id);
        return { status: 204 };
      });
    default:
      throw new ScimError(405, `use GET, PUT, PATCH or DELETE on a ${type.noun}`);
  }
}
