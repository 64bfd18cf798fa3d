import type { Client } from "@connectrpc/connect";
import type { ApiKeyService } from "@tessera/proto/tessera/identity/v1/api_keys_pb";
import type { MembershipService } from "@tessera/proto/tessera/identity/v1/memberships_pb";
import type { MfaService } from "@tessera/proto/tessera/identity/v1/mfa_pb";
import { Role } from "@tessera/proto/tessera/identity/v1/resources_pb";
import type { ScimService } from "@tessera/proto/tessera/identity/v1/scim_pb";
import type { SessionService } from "@tessera/proto/tessera/identity/v1/sessions_pb";
import type { SsoService } from "@tessera/proto/tessera/identity/v1/sso_pb";
import type { UserService } from "@tessera/proto/tessera/identity/v1/users_pb";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { ProblemError } from "../../problems.ts";
import { apiRoute, listOf, nextCursor, pageQuery, pageRequest, pathId, problemResponses } from "./common.ts";

/** Tenant roles as the REST API names them, most powerful first. */
export const ROLE_NAMES = ["owner", "admin", "member", "viewer"] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

const TO_PROTO: Record<RoleName, Role> = {
  owner: Role.OWNER,
  admin: Role.ADMIN,
  member: Role.MEMBER,
  viewer: Role.VIEWER,
};

/** A role in a body: one of the names (a 400 naming the field otherwise). */
export const roleField = () => z.enum(ROLE_NAMES).describe("owner > admin > member > viewer");

/** The contract's role for a REST name. */
export function roleOf(name: RoleName): Role {
  return TO_PROTO[name];
}

/** The REST name of a contract role; a role this edge does not know is a service fault (500). */
export function roleName(role: Role): RoleName {
  const found = ROLE_NAMES.find((n) => TO_PROTO[n] === role);
  if (!found) throw new Error(`identity sent role ${role}, which this edge does not know`);
  return found;
}

/** Text a person types (names): no control characters, NUL included. */
export const plainText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    .regex(/^[^\u0000-\u001f\u007f]*$/, "must not contain control characters");

/** identity's services as the caller (audience `identity`), for the tenant-administration routes. */
export interface IdentityClients {
  readonly memberships: Client<typeof MembershipService>;
  readonly apiKeys: Client<typeof ApiKeyService>;
  readonly sessions: Client<typeof SessionService>;
  readonly users: Client<typeof UserService>;
  /** The tenant's MFA policy (/v1/mfa-policy). */
  readonly mfa: Client<typeof MfaService>;
  /** The tenant's SCIM tokens and group mapping (/v1/scim). */
  readonly scim: Client<typeof ScimService>;
  /** The tenant's SSO connection (/v1/sso-connection). */
  readonly sso: Client<typeof SsoService>;
}

/** The identity clients, or the 503 an edge without them answers with. */
export function identityClients(clients: IdentityClients | undefined): IdentityClients {
  if (!clients) throw new ProblemError("unavailable", "Tenant administration is not configured on this edge.");
  return clients;
}

/** What a route over an identity RPC says of itself in the OpenAPI document. */
export interface IdentityRouteDoc {
  readonly operationId: string;
  readonly security: Array<Record<string, string[]>>;
  readonly summary: string;
  readonly description?: string;
  readonly tags: string[];
}

/** The OpenAPI fields of a route's schema, in the order the other routes give them. */
function described({ operationId, security, summary, description, tags }: IdentityRouteDoc) {
  return { operationId, security, summary, ...(description !== undefined && { description }), tags };
}

/** A page as identity's list RPCs answer it. */
interface IdentityPage<M> {
  readonly items: readonly M[];
  readonly page?: { nextPageToken: string } | undefined;
}

/**
 * GET `path` over one of identity's paged list RPCs: `?limit&cursor` in, `{ data, next_cursor }` out
 * (400 and 403 besides), each item shown through `view`.
 */
export function identityListRoute<S extends z.ZodType, M>(
  app: FastifyInstance,
  path: string,
  doc: IdentityRouteDoc & { readonly item: S; readonly listId: string },
  list: (page: ReturnType<typeof pageRequest>) => Promise<IdentityPage<M>>,
  view: (item: M) => z.infer<S>,
): void {
  app.withTypeProvider<ZodTypeProvider>().get(
    path,
    {
      config: apiRoute,
      schema: {
        ...described(doc),
        querystring: z.object(pageQuery),
        response: { 200: listOf(doc.item, doc.listId), ...problemResponses(400, 403) },
      },
    },
    async (req) => {
      const { items, page } = await list(pageRequest(req.query));
      return { data: items.map(view), next_cursor: nextCursor(page) };
    },
  );
}

/**
 * DELETE `path` over an identity RPC that removes one thing by the id in path parameter `param`:
 * 204 with `done` as its description, or one of `problems`.
 */
export function identityDeleteRoute<P extends string>(
  app: FastifyInstance,
  path: string,
  doc: IdentityRouteDoc & {
    readonly param: P;
    readonly params: z.ZodObject<Record<P, z.ZodString>>;
    readonly done: string;
    readonly problems: number[];
  },
  remove: (id: string) => Promise<unknown>,
): void {
  app.withTypeProvider<ZodTypeProvider>().delete(
    path,
    {
      config: apiRoute,
      schema: {
        ...described(doc),
        params: doc.params,
        response: { 204: z.undefined().describe(doc.done), ...problemResponses(...doc.problems) },
      },
    },
    async (req, reply) => {
      await remove(pathId((req.params as Record<P, string>)[doc.param]));
      return reply.code(204).send();
    },
  );
}
