/**
 * A real browser for the identity e2e tests: Debian's Chromium (or CHROME_PATH) driven by
 * playwright-core, a DevTools (CDP) virtual authenticator per page, and the static sign-in page
 * (passkey-page.html) served on http://localhost:<port> — the page talks to the real GraphQL
 * gateway named in its `?gql=` parameter.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type Browser, type CDPSession, chromium, type Page } from "playwright-core";

/** The browser binary: Debian's chromium unless CHROME_PATH names another. */
export const CHROME_PATH = process.env.CHROME_PATH || "/usr/bin/chromium";

/** Root needs no sandbox; the rest keeps Chromium from calling home while tests run. */
export const CHROME_ARGS = [
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-default-apps",
  "--disable-sync",
  "--metrics-recording-only",
  "--no-first-run",
  "--no-default-browser-check",
];

/** Launches headless Chromium; a missing binary fails with what to install. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROME_PATH)) {
    throw new Error(
      `no browser at ${CHROME_PATH}: ./tessera test installs Debian's chromium (scripts/bootstrap); else apt-get install chromium, or set CHROME_PATH`,
    );
  }
  return chromium.launch({ executablePath: CHROME_PATH, args: CHROME_ARGS, headless: true });
}

/** The sign-in page on a loopback port, for any host name (localhost, app.localhost). */
export interface PageServer {
  readonly port: number;
  /** The page's URL on `host`, pointing it at the gateway. */
  url(gqlUrl: string, host?: string): string;
  origin(host?: string): string;
  stop(): Promise<void>;
}

export async function servePage(): Promise<PageServer> {
  const html = readFileSync(new URL("./passkey-page.html", import.meta.url));
  const server = createServer((req, res) => {
    if (req.method !== "GET") {
      res.writeHead(405).end();
      return;
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const origin = (host = "localhost") => `http://${host}:${port}`;
  return {
    port,
    origin,
    url: (gqlUrl, host) => `${origin(host)}/?gql=${encodeURIComponent(gqlUrl)}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A credential as the DevTools protocol shows it (binary fields base64). */
export interface VirtualCredential {
  credentialId: string;
  isResidentCredential: boolean;
  rpId?: string;
  privateKey: string;
  userHandle?: string;
  signCount: number;
}

/** A CTAP2 platform authenticator with resident keys and user verification (always verified). */
export interface VirtualAuthenticator {
  credentials(): Promise<VirtualCredential[]>;
  add(credential: VirtualCredential): Promise<void>;
  remove(credentialId: string): Promise<void>;
  /** Makes the authenticator sign with a bogus signature from now on (or stop). */
  bogusSignatures(on: boolean): Promise<void>;
}

export async function addVirtualAuthenticator(page: Page): Promise<VirtualAuthenticator> {
  const cdp: CDPSession = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    credentials: async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials,
    add: async (credential) => {
      await cdp.send("WebAuthn.addCredential", { authenticatorId, credential });
    },
    remove: async (credentialId) => {
      await cdp.send("WebAuthn.removeCredential", { authenticatorId, credentialId });
    },
    bogusSignatures: async (on) => {
      await cdp.send("WebAuthn.setResponseOverrideBits", { authenticatorId, isBogusSignature: on });
    },
  };
}

/** A resident credential nobody registered: a fresh P-256 key and random id, for `rpId`. */
export function strangerCredential(rpId = "localhost"): VirtualCredential {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return {
    credentialId: randomBytes(16).toString("base64"),
    isResidentCredential: true,
    rpId,
    privateKey: privateKey.export({ format: "der", type: "pkcs8" }).toString("base64"),
    userHandle: randomBytes(16).toString("base64"),
    signCount: 0,
  };
}

/** base64 (CDP) → base64url (WebAuthn JSON). */
export const toBase64url = (b64: string) => Buffer.from(b64, "base64").toString("base64url");

/** The sign-in page in a new tab with its own virtual authenticator. */
export interface SignInPage {
  page: Page;
  authenticator: VirtualAuthenticator;
  /** Clicks (or does) `action` and answers the status line once the page is done working. */
  act(action: () => Promise<unknown>): Promise<string>;
  /** Calls `window.app[name](...args)` and answers the status line (or the error it showed). */
  call(name: string, ...args: unknown[]): Promise<string>;
  /** Signs in with email and password through the form. */
  signIn(email: string, password: string): Promise<string>;
  status(): Promise<string>;
}

export async function openSignInPage(browser: Browser, url: string): Promise<SignInPage> {
  const page = await browser.newPage();
  const authenticator = await addVirtualAuthenticator(page);
  await page.goto(url);
  await page.locator("#status", { hasText: "Ready" }).waitFor();
  const status = async () => (await page.locator("#status").textContent()) ?? "";
  const settle = async () => {
    await page.waitForFunction(() => document.getElementById("status")?.textContent !== "Working…");
    return status();
  };
  const act = async (action: () => Promise<unknown>) => {
    await action();
    return settle();
  };
  return {
    page,
    authenticator,
    status,
    act,
    call: (name, ...args) =>
      act(() =>
        page.evaluate(
          async ([n, a]) => {
            const el = document.getElementById("status");
            if (el) el.textContent = "Working…";
            try {
              await (window as unknown as { app: Record<string, (...x: unknown[]) => Promise<unknown>> }).app[n]?.(
                ...a,
              );
            } catch (err) {
              if (el) el.textContent = `Error: ${(err as Error).message}`;
            }
          },
          [name, args] as const,
        ),
      ),
    signIn: async (email, password) =>
      act(async () => {
        await page.locator("#email").fill(email);
        await page.locator("#password").fill(password);
        await page.locator("#sign-in").click();
      }),
  };
}
