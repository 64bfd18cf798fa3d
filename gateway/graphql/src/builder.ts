import SchemaBuilder from "@pothos/core";
import ComplexityPlugin from "@pothos/plugin-complexity";
import DataloaderPlugin from "@pothos/plugin-dataloader";
import ErrorsPlugin from "@pothos/plugin-errors";
import RelayPlugin from "@pothos/plugin-relay";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import type { GatewayContext } from "./context.ts";
import { UnauthenticatedError } from "./errors/gateway-errors.ts";
import { encodeGlobalId } from "./global-id.ts";

/** The type parameters of the gateway's schema builder. */
export interface GatewaySchemaTypes {
  Context: GatewayContext;
  AuthScopes: { authenticated: boolean };
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    Date: { Input: string; Output: string };
  };
}

/**
 * The one Pothos builder. Plugins: scope-auth (first, so it runs before the others wrap
 * resolvers), errors (expected mutation failures as schema types), dataloader (BatchGet RPCs),
 * relay (Node, global ids, connections) and complexity (per-field cost; limits are enforced by the
 * limits plugin before execution, see limits.ts, so the plugin's own in-resolver check is off).
 */
export const builder = new SchemaBuilder<GatewaySchemaTypes>({
  plugins: [ScopeAuthPlugin, ErrorsPlugin, DataloaderPlugin, RelayPlugin, ComplexityPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: (ctx) => ({ authenticated: ctx.hasSession() }),
    unauthorizedError: () => new UnauthenticatedError(),
  },
  errors: { defaultTypes: [] },
  relay: {
    clientMutationId: "omit",
    cursorType: "String",
    encodeGlobalID: (typename, id) => encodeGlobalId(typename, String(id)),
    // node(id) is defined in schema/node.ts: every unusable id answers null, never an error
    nodeQueryOptions: false,
    nodesQueryOptions: false,
  },
  complexity: { defaultComplexity: 1, defaultListMultiplier: 1, disabled: true },
});
