/** How a route takes part in the edge's request pipeline (`config.tessera`). */
export interface RouteMeta {
  /** Needs a credential (exchanged at identity), counts against the tenant's rate limit. */
  readonly auth?: boolean;
  /** Honours `Idempotency-Key` (creations). */
  readonly idempotent?: boolean;
  /**
   * Top-level fields of the JSON answer left out of the Idempotency-Key record (secrets shown once):
   * a replay answers without them.
   */
  readonly notStored?: readonly string[];
}

/** A route as the edge registered it (the inventory the OpenAPI test checks the document against). */
export interface RegisteredRoute {
  readonly method: string;
  readonly url: string;
  /** Left out of the OpenAPI document (docs assets, the document itself, health). */
  readonly hidden: boolean;
  readonly meta: RouteMeta | undefined;
}

declare module "fastify" {
  interface FastifyContextConfig {
    tessera?: RouteMeta;
  }
  interface FastifyInstance {
    /** Every route registered so far. */
    registeredRoutes: readonly RegisteredRoute[];
  }
}
