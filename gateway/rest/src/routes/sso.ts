import type { FastifyInstance } from "fastify";
import { ProblemError } from "../problems.ts";

/** The browser endpoints of single sign-on that identity serves on its HTTP port. */
const SSO_PATHS = ["/sso/start", "/sso/callback"] as const;

/** Deadline of one forwarded SSO request (identity itself bounds each IdP call at 5 s). */
const SSO_TIMEOUT_MS = 15_000;

/**
 * Forwards `GET /sso/start` and `GET /sso/callback` to identity's HTTP listener, so the product's
 * login surface is this edge's address (`IDENTITY_SSO_PUBLIC_URL` points here and the IdP redirects
 * back here). Unauthenticated browser navigation, hidden from the OpenAPI document; the answer
 * (302/303 with `location`, the `tessera_sso` cookie, or a problem) is passed through unchanged.
 * The client's address goes along as `x-forwarded-for` for identity's audit events. Not served
 * without IDENTITY_HTTP_URL.
 */
export function ssoProxyRoutes(app: FastifyInstance, identityHttpUrl: string | undefined): void {
  if (!identityHttpUrl) return;
  for (const path of SSO_PATHS) {
    app.get(path, { schema: { hide: true } }, async (req, reply) => {
      const query = req.url.includes("?") ? req.url.slice(req.url.indexOf("?")) : "";
      const target = new URL(`${path}${query}`, identityHttpUrl);
      const headers: Record<string, string> = { "x-forwarded-for": req.ip, "x-forwarded-proto": req.protocol };
      for (const name of ["cookie", "user-agent"] as const) {
        const v = req.headers[name];
        if (typeof v === "string") headers[name] = v.slice(0, 8192);
      }
      let res: Response;
      try {
        res = await fetch(target, { redirect: "manual", headers, signal: AbortSignal.timeout(SSO_TIMEOUT_MS) });
      } catch {
        throw new ProblemError("unavailable", "Single sign-on is unavailable: try again later.");
      }
      reply.code(res.status);
      for (const name of ["location", "content-type", "cache-control", "referrer-policy"]) {
        const v = res.headers.get(name);
        if (v) reply.header(name, v);
      }
      const cookies = res.headers.getSetCookie();
      if (cookies.length > 0) reply.header("set-cookie", cookies);
      return reply.send(Buffer.from(await res.arrayBuffer()));
    });
  }
}
