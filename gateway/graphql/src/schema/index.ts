import type { GraphQLSchema } from "graphql";
import { builder } from "../builder.ts";
import "./common.ts";
import "./user.ts";
import "./tenant.ts";
import "./viewer.ts";
import "./project.ts";
import "./task.ts";
import "./comment.ts";
import "./auth.ts";
import "./mfa.ts";
import "./passkeys.ts";
import "./node.ts";
import "./task-events.ts";
import "./audit.ts";
import "./members.ts";
import "./invitations.ts";
import "./api-keys.ts";
import "./sessions.ts";
import "./scim.ts";
import "./sso.ts";

builder.queryType({
  description: "Everything but `__typename` needs a credential (`Authorization: Bearer …` or `X-Api-Key`).",
  authScopes: { authenticated: true },
});
builder.mutationType({
  description:
    "Writes. `login`, `verifyMfa`, `startMfaEnrollment`, `completeMfaEnrollment`, `startPasskeyLogin`, `finishPasskeyLogin`, `redeemSsoLogin`, `refresh` and `logout` need no credential; the others do.",
  authScopes: { authenticated: true },
});
builder.subscriptionType({
  description: "Live updates over Server-Sent Events (`Accept: text/event-stream`).",
  authScopes: { authenticated: true },
});

let schema: GraphQLSchema | undefined;

/** The gateway's schema (built once). */
export function gatewaySchema(): GraphQLSchema {
  schema ??= builder.toSchema({ sortSchema: true });
  return schema;
}
