import { runWithContext } from "@tessera/platform/context";
import type { DocumentNode, FragmentDefinitionNode, GraphQLError, SelectionSetNode } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { GatewayContext } from "./context.ts";
import { getOperationAST, Kind } from "./graphql.ts";

/** Root fields a caller without a credential may use. */
const PUBLIC_ROOT_FIELDS = new Set([
  "__typename",
  "__schema",
  "__type",
  "login",
  "verifyMfa",
  "startMfaEnrollment",
  "completeMfaEnrollment",
  "startPasskeyLogin",
  "finishPasskeyLogin",
  "redeemSsoLogin",
  "refresh",
  "logout",
]);

/**
 * True when every root field of the operation is public: sign-in mutations and introspection
 * (which the limits plugin refuses outside development anyway).
 */
export function isPublicOperation(document: DocumentNode, operationName: string | null | undefined): boolean {
  const operation = getOperationAST(document, operationName);
  if (!operation) return false;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  const seen = new Set<string>();
  const allPublic = (set: SelectionSetNode): boolean =>
    set.selections.every((selection) => {
      if (selection.kind === Kind.FIELD) return PUBLIC_ROOT_FIELDS.has(selection.name.value);
      if (selection.kind === Kind.INLINE_FRAGMENT) return allPublic(selection.selectionSet);
      const name = selection.name.value;
      if (seen.has(name)) return true;
      seen.add(name);
      const fragment = fragments.get(name);
      return fragment !== undefined && allPublic(fragment.selectionSet);
    });
  return allPublic(operation.selectionSet);
}

/**
 * Establishes the caller before anything runs: an operation that is not public needs a credential
 * that identity accepts (exchanged once; refused → UNAUTHENTICATED, suspended tenant →
 * FORBIDDEN), and then runs with the caller's tenant in the request context, so every log line
 * of the operation carries its tenant_id.
 */
export function useAuthGate(toGraphQLError: (err: unknown) => GraphQLError): Plugin<GatewayContext> {
  const establish = async (
    args: { document: DocumentNode; operationName?: string | null | undefined; contextValue?: unknown },
    stop: (result: { errors: GraphQLError[] }) => void,
    wrap: (run: <T>(fn: () => T) => T) => void,
  ) => {
    if (isPublicOperation(args.document, args.operationName)) return;
    const ctx = args.contextValue as GatewayContext;
    try {
      const session = await ctx.session();
      wrap((fn) =>
        runWithContext(
          {
            tenantId: session.tenantId,
            principal: {
              subject: session.subject,
              kind: session.kind === "api_key" ? "api_key" : "user",
              roles: [],
              scopes: [],
              actorChain: [],
            },
          },
          fn,
        ),
      );
    } catch (err) {
      stop({ errors: [toGraphQLError(err)] });
    }
  };
  return {
    async onExecute({ args, setResultAndStopExecution, executeFn, setExecuteFn }) {
      await establish(args, setResultAndStopExecution, (run) => setExecuteFn((a) => run(() => executeFn(a))));
    },
    async onSubscribe({ args, setResultAndStopExecution, subscribeFn, setSubscribeFn }) {
      await establish(args, setResultAndStopExecution, (run) => setSubscribeFn((a) => run(() => subscribeFn(a))));
    },
  };
}
