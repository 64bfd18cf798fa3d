import { Agent, request } from "node:https";

/** A response of the Kubernetes API: status code and the parsed JSON body (text when not JSON). */
export interface KubeResponse<T = unknown> {
  status: number;
  body: T;
}

/** A Kubernetes object as the API returns it (the fields the tools read). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    ownerReferences?: Array<{ kind: string; name: string; uid: string }>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: objects of every kind; callers narrow what they read
  spec?: any;
  // biome-ignore lint/suspicious/noExplicitAny: see spec
  status?: any;
  [key: string]: unknown;
}

/** A list response. */
export interface KubeList<T = KubeObject> {
  items: T[];
  metadata: { resourceVersion?: string };
}

/** A minimal client of one API server, as one bearer-token user. */
export interface KubeApi {
  /** Any request; never throws on an HTTP status (only on connection errors). */
  request<T = unknown>(method: string, path: string, body?: unknown, contentType?: string): Promise<KubeResponse<T>>;
  /** GET, throwing unless 200. */
  get<T = KubeObject>(path: string): Promise<T>;
  /** GET of a collection, throwing unless 200. */
  list<T = KubeObject>(path: string): Promise<T[]>;
  /** POST, throwing unless 201 (or 200/202). */
  create<T = KubeObject>(path: string, body: unknown): Promise<T>;
  /** Closes kept-alive connections. */
  close(): void;
}

/** Thrown for an unexpected HTTP status. */
export class KubeApiError extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(method: string, path: string, status: number, body: unknown) {
    const message =
      body && typeof body === "object" && "message" in body ? String((body as { message: unknown }).message) : "";
    super(`${method} ${path}: HTTP ${status}${message ? ` ${message}` : ""}`);
    this.status = status;
    this.body = body;
  }
}

/** A client of `server` (https://…) that trusts `ca` (PEM) and sends `token`. */
export function kubeApi({ server, ca, token }: { server: string; ca: string; token: string }): KubeApi {
  const agent = new Agent({ ca, keepAlive: true, maxSockets: 16 });
  const base = new URL(server);

  const send = <T>(method: string, path: string, body?: unknown, contentType?: string) =>
    new Promise<KubeResponse<T>>((resolve, reject) => {
      const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
      const req = request(
        {
          agent,
          host: base.hostname,
          port: base.port,
          method,
          path,
          headers: {
            authorization: `Bearer ${token}`,
            accept: "application/json",
            ...(payload === undefined
              ? {}
              : { "content-type": contentType ?? "application/json", "content-length": Buffer.byteLength(payload) }),
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // not JSON (healthz answers "ok")
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
      req.on("error", reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });

  const expect = async <T>(method: string, path: string, ok: number[], body?: unknown): Promise<T> => {
    const res = await send<T>(method, path, body);
    if (!ok.includes(res.status)) throw new KubeApiError(method, path, res.status, res.body);
    return res.body;
  };

  return {
    request: send,
    get: (path) => expect("GET", path, [200]),
    list: async <T>(path: string) => (await expect<KubeList<T>>("GET", path, [200])).items,
    create: (path, body) => expect("POST", path, [200, 201, 202], body),
    close: () => agent.destroy(),
  };
}
