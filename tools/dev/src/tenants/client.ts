import { type CallOptions, type Client, Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { createServiceTokenSource, type ServiceTokenSource } from "@tessera/platform/auth";
import { createLogger, setRootLogger } from "@tessera/platform/log";
import { closeServiceClient, createServiceClient } from "@tessera/platform/rpc-client";
import { type Tenant, TenantService } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import type { Connection } from "./connection.ts";
import { CliError, codeName, describeRpcError } from "./errors.ts";

/** Deadline of every unary call (a follow loop makes many calls, each with this deadline). */
export const CALL_TIMEOUT_MS = 15_000;

/** tenancy's TenantService, authenticated as the platform operator. */
export interface Tenancy {
  readonly client: Client<typeof TenantService>;
  readonly url: string;
  /** Call options with the default deadline. */
  readonly call: CallOptions;
  /** The tenant a command line names: a UUID is an id, anything else a slug (ResolveTenant either way). */
  resolve(ref: string): Promise<Tenant>;
  /** Maps a failed call to the sentence the operator reads. */
  explain(err: unknown): CliError;
  close(): void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The kit logs a failed token renewal or a retry; a CLI keeps such lines off stdout (which --json owns). */
function quietKitLogs(): void {
  setRootLogger(
    createLogger({
      service: "tessera-cli",
      level: process.env.TESSERA_CLI_LOG_LEVEL ?? "error",
      destination: { write: (line: string) => process.stderr.write(line) },
    }),
  );
}

function tokenInterceptor(connection: Connection): { interceptor: Interceptor; close(): void } {
  const credential = connection.credential;
  if (credential.kind === "token") {
    return {
      interceptor: (next) => (req) => {
        req.header.set("authorization", `Bearer ${credential.token}`);
        return next(req);
      },
      close: () => {},
    };
  }
  let tokens: ServiceTokenSource | undefined;
  const token = async () => {
    tokens ??= createServiceTokenSource({
      identityUrl: credential.identityUrl,
      clientId: credential.clientId,
      clientSecret: credential.clientSecret,
      timeoutMs: CALL_TIMEOUT_MS,
    });
    try {
      return await tokens.getToken("tenancy");
    } catch (err) {
      const e = ConnectError.from(err);
      if (e.code === Code.Unauthenticated || e.code === Code.PermissionDenied || e.code === Code.InvalidArgument)
        throw new CliError(
          `identity at ${credential.identityUrl} refused the client credential "${credential.clientId}" for tenancy: ${e.rawMessage} [${codeName(e.code)}]`,
          1,
          codeName(e.code),
        );
      throw describeRpcError(err, "identity (getting a token for tenancy)", credential.identityUrl);
    }
  };
  return {
    interceptor: (next) => async (req) => {
      req.header.set("authorization", `Bearer ${await token()}`);
      return next(req);
    },
    close: () => tokens?.close(),
  };
}

/** A TenantService client for the connection; every call has a deadline. */
export function connectTenancy(connection: Connection): Tenancy {
  quietKitLogs();
  const auth = tokenInterceptor(connection);
  const client = createServiceClient(TenantService, {
    baseUrl: connection.tenancyUrl,
    defaultTimeoutMs: CALL_TIMEOUT_MS,
    interceptors: [auth.interceptor],
  });
  const url = connection.tenancyUrl;
  const call: CallOptions = { timeoutMs: CALL_TIMEOUT_MS };
  const explain = (err: unknown) => describeRpcError(err, "tenancy", url);
  return {
    client,
    url,
    call,
    explain,
    async resolve(ref) {
      const key = UUID.test(ref)
        ? ({ case: "tenantId", value: ref.toLowerCase() } as const)
        : ({ case: "slug", value: ref } as const);
      try {
        const { tenant } = await client.resolveTenant({ key }, call);
        if (!tenant) throw new CliError(`tenancy answered ResolveTenant for "${ref}" without a tenant`);
        return tenant;
      } catch (err) {
        const e = ConnectError.from(err);
        if (
          !(e.cause instanceof CliError) &&
          (e.code === Code.NotFound || (e.code === Code.InvalidArgument && key.case === "slug"))
        )
          throw new CliError(`tenant "${ref}" not found [NOT_FOUND]`, 1, "NOT_FOUND");
        throw explain(err);
      }
    },
    close() {
      closeServiceClient(client);
      auth.close();
    },
  };
}
