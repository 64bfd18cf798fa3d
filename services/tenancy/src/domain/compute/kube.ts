import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { request } from "node:https";
import { homedir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { parse } from "yaml";

/** Where the Kubernetes API is and how to authenticate to it (what helm uses too). */
export interface KubeTarget {
  readonly server: string;
  readonly ca?: string | Buffer | undefined;
  readonly insecure: boolean;
  readonly tlsServerName?: string | undefined;
  readonly cert?: string | Buffer | undefined;
  readonly key?: string | Buffer | undefined;
  /** The bearer token, read afresh for each request (projected tokens rotate). */
  readonly token?: (() => Promise<string>) | undefined;
}

const SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";

// biome-ignore lint/suspicious/noExplicitAny: a kubeconfig is loosely typed YAML; fields are checked where read
type Loose = any;

const named = (list: Loose, name: string, what: string): Loose => {
  const entry = (Array.isArray(list) ? list : []).find((e: Loose) => e?.name === name);
  if (!entry) throw new Error(`kubeconfig: no ${what} named "${name}"`);
  return entry;
};

/**
 * The API server and credentials helm would use: the kubeconfig at `path`, else `~/.kube/config`,
 * else the pod's service account (in a cluster). Supports token, token file and client certificate
 * users; exec and auth-provider plugins are refused with an error saying so.
 */
export async function loadKubeTarget(path?: string): Promise<KubeTarget> {
  const file = path ?? join(homedir(), ".kube", "config");
  if (!path && !existsSync(file)) {
    const host = process.env.KUBERNETES_SERVICE_HOST;
    if (!host) throw new Error("no kubeconfig (KUBECONFIG, ~/.kube/config) and not running in a cluster");
    const port = process.env.KUBERNETES_SERVICE_PORT ?? "443";
    return {
      server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
      ca: await readFile(join(SERVICE_ACCOUNT, "ca.crt")),
      insecure: false,
      token: async () => (await readFile(join(SERVICE_ACCOUNT, "token"), "utf8")).trim(),
    };
  }
  const config: Loose = parse(await readFile(file, "utf8"));
  const base = dirname(file);
  const resolve = (p: string) => (isAbsolute(p) ? p : join(base, p));
  const contextName = config?.["current-context"];
  if (typeof contextName !== "string" || !contextName) throw new Error(`kubeconfig ${file}: no current-context`);
  const context = named(config.contexts, contextName, "context").context ?? {};
  const cluster = named(config.clusters, context.cluster, "cluster").cluster ?? {};
  const user = context.user ? (named(config.users, context.user, "user").user ?? {}) : {};
  if (user.exec || user["auth-provider"])
    throw new Error(
      `kubeconfig ${file}: user "${context.user}" authenticates with a plugin, which tenancy does not run; ` +
        "use a token, token file or client certificate (or the pod's service account)",
    );
  if (typeof cluster.server !== "string")
    throw new Error(`kubeconfig ${file}: cluster "${context.cluster}" has no server`);
  const data = (field: string): Promise<Buffer | undefined> | Buffer | undefined =>
    cluster[`${field}-data`] !== undefined
      ? Buffer.from(String(cluster[`${field}-data`]), "base64")
      : cluster[field]
        ? readFile(resolve(String(cluster[field])))
        : undefined;
  const userData = (field: string): Promise<Buffer | undefined> | Buffer | undefined =>
    user[`${field}-data`] !== undefined
      ? Buffer.from(String(user[`${field}-data`]), "base64")
      : user[field]
        ? readFile(resolve(String(user[field])))
        : undefined;
  const tokenFile = typeof user.tokenFile === "string" ? resolve(user.tokenFile) : undefined;
  const token =
    typeof user.token === "string"
      ? async () => user.token as string
      : tokenFile
        ? async () => (await readFile(tokenFile, "utf8")).trim()
        : undefined;
  return {
    server: cluster.server,
    ca: await data("certificate-authority"),
    insecure: cluster["insecure-skip-tls-verify"] === true,
    tlsServerName: typeof cluster["tls-server-name"] === "string" ? cluster["tls-server-name"] : undefined,
    cert: await userData("client-certificate"),
    key: await userData("client-key"),
    token,
  };
}

/** A namespace as far as the driver cares. */
export interface NamespaceState {
  readonly labels: Readonly<Record<string, string>>;
  /** Deletion has begun (the namespace is Terminating). */
  readonly deleting: boolean;
  /** Its status conditions, for errors when deletion does not finish. */
  readonly conditions: ReadonlyArray<{ type: string; status: string; message?: string }>;
}

/** A Warning event of a namespace (what the controllers said went wrong). */
export interface WarningEvent {
  readonly reason: string;
  readonly message: string;
  /** `ReplicaSet/projects-6d9f…`. */
  readonly object: string;
  readonly count: number;
  /** When it last happened (undefined when the event carries no time). */
  readonly at: Date | undefined;
}

/** The namespace calls the helm driver makes beside helm. */
export interface NamespaceApi {
  /** The namespace, or undefined when it does not exist. */
  get(name: string, signal: AbortSignal): Promise<NamespaceState | undefined>;
  /** Starts deleting it; a namespace already gone or already terminating is fine. */
  delete(name: string, signal: AbortSignal): Promise<void>;
  /** The namespace's Warning events (to say why a rollout did not become healthy). */
  warnings?(name: string, signal: AbortSignal): Promise<WarningEvent[]>;
}

/** Thrown for an API answer the driver does not expect. */
export class KubeError extends Error {
  override name = "KubeError";
}

/** A NamespaceApi over `target()` (loaded per call), each request bounded by `requestTimeoutMs`. */
export function namespaceApi(target: () => Promise<KubeTarget>, requestTimeoutMs = 30_000): NamespaceApi {
  const call = async (
    method: "GET" | "DELETE",
    path: string,
    signal: AbortSignal,
    body?: unknown,
  ): Promise<{ status: number; body: Loose }> => {
    const t = await target();
    const url = new URL(path, t.server);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const token = t.token ? await t.token() : undefined;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          signal,
          timeout: requestTimeoutMs,
          ca: t.ca,
          cert: t.cert,
          key: t.key,
          rejectUnauthorized: !t.insecure,
          ...(t.tlsServerName && { servername: t.tlsServerName }),
          headers: {
            accept: "application/json",
            ...(token && { authorization: `Bearer ${token}` }),
            ...(payload !== undefined && {
              "content-type": "application/json",
              "content-length": Buffer.byteLength(payload),
            }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // not JSON: kept as text for the error
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on("timeout", () =>
        req.destroy(new KubeError(`${method} ${url.pathname}: no answer within ${requestTimeoutMs} ms`)),
      );
      req.on("error", reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  };
  const failure = (what: string, res: { status: number; body: Loose }) =>
    new KubeError(`${what}: HTTP ${res.status}${typeof res.body?.message === "string" ? ` ${res.body.message}` : ""}`);
  const pathOf = (name: string) => `/api/v1/namespaces/${encodeURIComponent(name)}`;
  return {
    async get(name, signal) {
      const res = await call("GET", pathOf(name), signal);
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw failure(`reading namespace ${name}`, res);
      return {
        labels: res.body?.metadata?.labels ?? {},
        deleting: Boolean(res.body?.metadata?.deletionTimestamp),
        conditions: res.body?.status?.conditions ?? [],
      };
    },
    async warnings(name, signal) {
      const res = await call(
        "GET",
        `/api/v1/namespaces/${encodeURIComponent(name)}/events?fieldSelector=type%3DWarning`,
        signal,
      );
      if (res.status === 404) return [];
      if (res.status !== 200) throw failure(`reading the events of namespace ${name}`, res);
      const items: Loose[] = Array.isArray(res.body?.items) ? res.body.items : [];
      return items.map((e) => {
        const at = e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp;
        return {
          reason: String(e.reason ?? ""),
          message: String(e.message ?? ""),
          object: `${e.involvedObject?.kind ?? "?"}/${e.involvedObject?.name ?? "?"}`,
          count: Number(e.count ?? 1),
          at: at ? new Date(at) : undefined,
        };
      });
    },
    async delete(name, signal) {
      const res = await call("DELETE", pathOf(name), signal, {
        apiVersion: "v1",
        kind: "DeleteOptions",
        propagationPolicy: "Background",
      });
      // 409: already terminating
      if ([200, 202, 404, 409].includes(res.status)) return;
      throw failure(`deleting namespace ${name}`, res);
    },
  };
}
