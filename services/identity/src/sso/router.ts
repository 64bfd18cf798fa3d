import type { IncomingMessage, ServerResponse } from "node:http";
import { isIP } from "node:net";
import { runWithContext } from "@tessera/platform/context";
import type { IdentityDeps } from "../domain/deps.ts";
import type { TenantDirectory } from "../domain/sso/directory.ts";
import { finishSsoLogin } from "../domain/sso/login.ts";
import { SsoLoginError, type StartKey, startSsoLogin } from "../domain/sso/start.ts";

/** Where the SSO browser flow is served on identity's HTTP port. */
export const SSO_PATH = "/sso";

/** The cookie binding a login transaction to the browser that started it. */
export const SSO_COOKIE = "tessera_sso";

const EMAIL = /^[^\s@]{1,64}@[A-Za-z0-9.-]{1,253}$/;
const SLUG = /^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,39}$/;

function problem(res: ServerResponse, status: number, title: string, detail: string): void {
  res.writeHead(status, { "content-type": "application/problem+json", "cache-control": "no-store" });
  res.end(JSON.stringify({ type: "about:blank", title, status, detail }));
}

function cookieOf(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return undefined;
}

/**
 * The SSO browser flow on identity's HTTP listener:
 * - `GET /sso/start?email=…` (or `?tenant=<slug>`): 302 to the tenant's IdP, with the login
 *   transaction's browser-binding secret in an HttpOnly, SameSite=Lax cookie scoped to `/sso`;
 * - `GET /sso/callback`: 303 to the frontend page with `?code=tso_…` (redeemed once through an
 *   edge), or with `?error=<code>&error_description=<text>` when the login is refused.
 * Malformed start parameters are 400 problem+json; nothing here answers 500 for bad input. Logs
 * carry route, status and duration; never an email address, a code, a state or a token.
 */
export function createSsoHandler(deps: IdentityDeps, directory: TenantDirectory | undefined) {
  const log = deps.logger.child({ component: "sso" });
  const { sso } = deps.settings;
  const secure = sso.publicUrl.startsWith("https:");
  const cookie = (value: string, maxAgeS: number) =>
    `${SSO_COOKIE}=${value}; Path=${SSO_PATH}; HttpOnly; SameSite=Lax; Max-Age=${maxAgeS}${secure ? "; Secure" : ""}`;
  const toFrontend = (res: ServerResponse, params: Record<string, string>, headers: Record<string, string> = {}) => {
    const target = new URL(sso.frontendUrl);
    for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
    res.writeHead(303, {
      location: target.href,
      "cache-control": "no-store",
      "referrer-policy": "no-referrer",
      ...headers,
    });
    res.end();
  };
  return (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const url = new URL(req.url ?? "/", "http://sso.invalid");
    const route = url.pathname;
    // for audit events only: behind the edge (which forwards /sso/*) the socket is the edge's
    const forwarded = String(req.headers["x-forwarded-for"] ?? "")
      .split(",")[0]
      ?.trim();
    const client = {
      ip: forwarded && isIP(forwarded) ? forwarded : (req.socket.remoteAddress ?? ""),
      userAgent: String(req.headers["user-agent"] ?? "").slice(0, 512),
    };
    const finish = (status: number, extra: Record<string, unknown> = {}) =>
      log.info({ route, status, duration_ms: Math.round(performance.now() - started), ...extra }, "SSO request");
    const run = async () => {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET" }).end();
        return finish(405);
      }
      if (route === `${SSO_PATH}/start`) {
        const email = url.searchParams.get("email");
        const slug = url.searchParams.get("tenant");
        let key: StartKey;
        if (email !== null && EMAIL.test(email) && email.length <= 254) key = { email };
        else if (email === null && slug !== null && SLUG.test(slug)) key = { slug };
        else {
          problem(res, 400, "Bad Request", "give a valid `email` address or a tenant slug as `tenant`");
          return finish(400);
        }
        try {
          const started = await startSsoLogin(deps, directory, key);
          res.writeHead(302, {
            location: started.location,
            "set-cookie": cookie(started.browserSecret, Math.floor(sso.transactionTtlMs / 1000)),
            "cache-control": "no-store",
            "referrer-policy": "no-referrer",
          });
          res.end();
          return finish(302);
        } catch (err) {
          if (!(err instanceof SsoLoginError)) throw err;
          toFrontend(res, { error: err.code, error_description: err.message });
          return finish(303, { sso_error: err.code });
        }
      }
      if (route === `${SSO_PATH}/callback`) {
        const clear = { "set-cookie": cookie("", 0) };
        try {
          const done = await finishSsoLogin(deps, directory, {
            params: url.searchParams,
            browserSecret: cookieOf(req, SSO_COOKIE),
            client,
          });
          toFrontend(res, { code: done.code }, clear);
          return runWithContext({ tenantId: done.tenantId }, () => finish(303));
        } catch (err) {
          if (!(err instanceof SsoLoginError)) throw err;
          toFrontend(res, { error: err.code, error_description: err.message }, clear);
          return finish(303, { sso_error: err.code });
        }
      }
      problem(res, 404, "Not Found", "no such SSO endpoint");
      return finish(404);
    };
    run().catch((err: unknown) => {
      const e = err as { name?: string; kind?: string; message?: string };
      log.error({ route, err_name: e?.name, err_kind: e?.kind }, "SSO request failed");
      if (!res.headersSent) {
        toFrontend(res, { error: "server_error", error_description: "single sign-on failed: try again later" });
      }
    });
  };
}
