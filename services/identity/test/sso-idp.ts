import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { registerSecret } from "@tessera/test/harness";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import Provider from "oidc-provider";
import { expect } from "vitest";

/** What an IdP account asserts. */
export interface IdpAccount {
  email: string;
  name?: string;
  groups?: string[];
  email_verified?: boolean;
}

/** A client registered at a test IdP. */
export interface IdpClientCreds {
  clientId: string;
  clientSecret: string;
}

/** A running test IdP. */
export interface TestIdp {
  issuer: string;
  /** Registered clients: `main` (identity's) and `other` (another relying party). */
  clients: { main: IdpClientCreds; other: IdpClientCreds };
  accounts: Map<string, IdpAccount>;
  /** The `amr` the IdP asserts for the next logins (default `["pwd"]`). */
  setAmr(amr: string[]): void;
  stop(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

/** A client credential; its secret is registered, so the log scan fails the run if it is ever logged. */
const creds = (label: string): IdpClientCreds => ({
  clientId: `${label}-${randomBytes(4).toString("hex")}`,
  clientSecret: registerSecret(randomBytes(24).toString("base64url")),
});

/**
 * A real OpenID provider (`oidc-provider`) on 127.0.0.1: code flow with PKCE required, the test's
 * accounts (claims email, email_verified, name, groups in the ID token), and an interaction
 * endpoint the test drives instead of a login form: `GET /interaction/<uid>?account=<id>` finishes
 * the login (with the configured `amr`) and grants the requested scopes, through oidc-provider's
 * interaction API (interactionDetails / interactionFinished).
 */
export async function startOidcProvider(redirectUri: string): Promise<TestIdp> {
  const server = createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const accounts = new Map<string, IdpAccount>();
  const clients = { main: creds("tessera"), other: creds("other-rp") };
  let amr = ["pwd"];
  const provider = new Provider(issuer, {
    clients: [clients.main, clients.other].map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
    })),
    async findAccount(_ctx, id) {
      const account = accounts.get(id);
      if (!account) return undefined;
      return { accountId: id, claims: () => ({ sub: id, email_verified: true, ...account }) };
    },
    claims: {
      amr: null,
      openid: ["sub", "amr"],
      email: ["email", "email_verified"],
      profile: ["name"],
      groups: ["groups"],
    },
    scopes: ["openid", "email", "profile", "groups"],
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    cookies: { keys: [randomBytes(16).toString("hex")] },
  });
  const callback = provider.callback();
  server.on("request", (req, res) => {
    const url = new URL(req.url ?? "/", issuer);
    if (!url.pathname.startsWith("/interaction/")) {
      callback(req, res);
      return;
    }
    void (async () => {
      const details = await provider.interactionDetails(req, res);
      const accountId = url.searchParams.get("account") ?? "";
      const clientId = String(details.params.client_id);
      const grant = new provider.Grant({ accountId, clientId });
      grant.addOIDCScope(String(details.params.scope));
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId, amr }, consent: { grantId: await grant.save() } },
        { mergeWithLastSubmission: false },
      );
    })().catch((err: unknown) => {
      res.writeHead(500).end(String((err as Error).message));
    });
  });
  return {
    issuer,
    clients,
    accounts,
    setAmr: (next) => {
      amr = next;
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** How the rogue IdP forges the ID token it returns. */
export type RogueMode = "ok" | "alg-none" | "expired" | "wrong-aud" | "wrong-iss" | "foreign-key";

/** A hand-written IdP that issues deliberately broken ID tokens (what oidc-provider never would). */
export interface RogueIdp extends TestIdp {
  mode: RogueMode;
}

async function formOf(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

/**
 * A minimal OIDC provider for the token-level negatives: discovery, an authorization endpoint that
 * logs the single account in at once, a token endpoint that checks client authentication and PKCE
 * (S256) and then answers an ID token per `mode` (alg none, expired, another audience, another
 * issuer, signed with a key outside its JWKS).
 */
export async function startRogueIdp(redirectUri: string): Promise<RogueIdp> {
  const server = createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  const foreign = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  const clients = { main: creds("tessera"), other: creds("other-rp") };
  const accounts = new Map<string, IdpAccount>();
  const codes = new Map<string, { nonce: string; challenge: string; account: string }>();
  const idp: RogueIdp = {
    issuer,
    clients,
    accounts,
    mode: "ok",
    setAmr: () => undefined,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const json = (res: import("node:http").ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  server.on("request", (req, res) => {
    const url = new URL(req.url ?? "/", issuer);
    void (async () => {
      switch (url.pathname) {
        case "/.well-known/openid-configuration":
          return json(res, 200, {
            issuer,
            authorization_endpoint: `${issuer}/authorize`,
            token_endpoint: `${issuer}/token`,
            jwks_uri: `${issuer}/jwks`,
            response_types_supported: ["code"],
            subject_types_supported: ["public"],
            id_token_signing_alg_values_supported: ["RS256"],
            code_challenge_methods_supported: ["S256"],
          });
        case "/jwks":
          return json(res, 200, { keys: [jwk] });
        case "/authorize": {
          if (url.searchParams.get("redirect_uri") !== redirectUri) return json(res, 400, { error: "invalid_request" });
          const code = randomBytes(16).toString("hex");
          codes.set(code, {
            nonce: url.searchParams.get("nonce") ?? "",
            challenge: url.searchParams.get("code_challenge") ?? "",
            account: [...accounts.keys()][0] ?? "",
          });
          const back = new URL(redirectUri);
          back.searchParams.set("code", code);
          back.searchParams.set("state", url.searchParams.get("state") ?? "");
          return res.writeHead(302, { location: back.href }).end();
        }
        case "/token": {
          const form = await formOf(req);
          const grant = codes.get(form.get("code") ?? "");
          codes.delete(form.get("code") ?? "");
          if (!grant) return json(res, 400, { error: "invalid_grant" });
          const verifier = form.get("code_verifier") ?? "";
          const expected = createHash("sha256").update(verifier).digest("base64url");
          if (verifier === "" || expected !== grant.challenge) {
            return json(res, 400, { error: "invalid_grant", error_description: "PKCE verification failed" });
          }
          const account = accounts.get(grant.account);
          const now = Math.floor(Date.now() / 1000);
          const claims = {
            iss: idp.mode === "wrong-iss" ? "https://evil.example" : issuer,
            aud: idp.mode === "wrong-aud" ? clients.other.clientId : clients.main.clientId,
            sub: grant.account,
            iat: idp.mode === "expired" ? now - 7200 : now,
            exp: idp.mode === "expired" ? now - 3600 : now + 300,
            nonce: grant.nonce,
            email_verified: true,
            ...account,
          };
          let idToken: string;
          if (idp.mode === "alg-none") idToken = `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`;
          else {
            const key = idp.mode === "foreign-key" ? foreign.privateKey : privateKey;
            idToken = await new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: "k1" }).sign(key);
          }
          return json(res, 200, {
            access_token: randomBytes(16).toString("hex"),
            token_type: "Bearer",
            id_token: idToken,
          });
        }
        default:
          return json(res, 404, { error: "not_found" });
      }
    })().catch((err: unknown) => json(res, 500, { error: String((err as Error).message) }));
  });
  return idp;
}

/** A tiny cookie jar keyed by host. */
class Jar {
  private readonly byHost = new Map<string, Map<string, string>>();
  take(url: string, res: Response) {
    const host = new URL(url).host;
    const jar = this.byHost.get(host) ?? new Map<string, string>();
    for (const c of res.headers.getSetCookie()) {
      const [pair = ""] = c.split(";");
      const i = pair.indexOf("=");
      jar.set(pair.slice(0, i).trim(), pair.slice(i + 1));
    }
    this.byHost.set(host, jar);
  }
  header(url: string): string {
    const jar = this.byHost.get(new URL(url).host);
    return jar ? [...jar].map(([k, v]) => `${k}=${v}`).join("; ") : "";
  }
}

/** A browser following redirects by hand (each hop visible to the test). */
export class Browser {
  readonly jar = new Jar();
  async get(url: string): Promise<{ status: number; location: string; res: Response }> {
    const cookie = this.jar.header(url);
    const res = await fetch(url, { redirect: "manual", headers: cookie ? { cookie } : {} });
    this.jar.take(url, res);
    await res.arrayBuffer();
    return { status: res.status, location: res.headers.get("location") ?? "", res };
  }
  /** Follows redirects from `url` until one points at `stopAt` (not followed) or a non-redirect. */
  async follow(url: string, stopAt: string): Promise<string> {
    let next = url;
    for (let hop = 0; hop < 10; hop++) {
      const { status, location } = await this.get(next);
      if (status < 300 || status >= 400) expect.fail(`${next} answered ${status}, not a redirect`);
      const target = new URL(location, next).href;
      if (target.startsWith(stopAt)) return target;
      next = target;
    }
    return expect.fail("too many redirects");
  }
}

/** The IdP part of a login: start → IdP → interaction as `account` → back at identity's callback URL. */
export async function throughIdp(browser: Browser, startUrl: string, callback: string, account: string) {
  const started = await browser.get(startUrl);
  expect(started.status, `start answered ${started.status} → ${started.location}`).toBe(302);
  const auth = new URL(started.location);
  const interaction = await browser.follow(auth.href, `${auth.origin}/interaction/`);
  const withAccount = `${interaction}?account=${encodeURIComponent(account)}`;
  return { callbackUrl: await browser.follow(withAccount, callback), authorizeUrl: auth };
}
