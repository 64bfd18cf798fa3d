import { dirname, join } from "node:path";
import { conventionalRoles, provisionDatabase } from "@tessera/platform/db";
import { isNatsUser, NATS_ADMIN_USER } from "@tessera/platform/events";
import { type NatsServerUser, natsUrlWithCredentials, platformNatsUsers } from "../infra/index.ts";
import { CLI_CLIENT_ID } from "../tenants/connection.ts";
import type { Deployable } from "./deployables.ts";
import { type DevSecrets, loadDevSecrets } from "./secrets.ts";
import { localComputeSpec, tenantChartVersion, writeLocalComputeSpec } from "./silo.ts";

/** The client id `up` itself uses to act as a platform operator and edge (seeding the demo tenant). */
export const UP_CLIENT_ID = "tessera-up";

/** Which process of a deployable an environment is for. */
export type Phase = "migrate" | "seed" | "main";

/** How `up` connects the deployables: databases, identity, credentials. */
export interface PlatformWiring {
  secrets: DevSecrets;
  /** The platform's environment for one process of a deployable (before the package's own `env`). */
  envFor(d: Deployable, phase: Phase): Record<string, string>;
  /** gRPC base URL of a deployable by name, when it exists. */
  urlOf(name: string): string | undefined;
}

/** The users of the nats-server `up` starts itself, and the URLs that log in as them. */
export interface DevNatsUsers {
  /** Each deployable with NATS access (platform/src/events/permissions.ts) limited to it, and the admin. */
  users: NatsServerUser[];
  /** `url` as the admin (up's own checks; never given to a deployable). */
  adminUrl(url: string): string;
  /** `url` as a deployable's own user; undefined for one without NATS access. */
  urlFor(url: string, deployable: string): string | undefined;
  /** Deployables without NATS access: they get no NATS credential. */
  withoutAccess: string[];
}

/**
 * The NATS users of `up`'s own nats-server, passwords from the dev secrets (generated once):
 * one per deployable, with the permissions its entry in `NATS_ACCESS` gives, and an admin user.
 */
export function devNatsUsers(home: string, deployables: readonly Deployable[]): DevNatsUsers {
  const names = [...deployables.map((d) => d.name).filter(isNatsUser), NATS_ADMIN_USER];
  const { nats: stored } = loadDevSecrets(home, [], [], names);
  const passwords = Object.fromEntries(names.map((n) => [n, stored[n] as string]));
  return {
    users: platformNatsUsers(passwords),
    adminUrl: (url) => natsUrlWithCredentials(url, NATS_ADMIN_USER, passwords[NATS_ADMIN_USER] as string),
    urlFor: (url, deployable) => {
      const password = isNatsUser(deployable) ? passwords[deployable] : undefined;
      return password ? natsUrlWithCredentials(url, deployable, password) : undefined;
    },
    withoutAccess: deployables.map((d) => d.name).filter((n) => !isNatsUser(n)),
  };
}

/** Metrics are served on the service port + 1000, so every process gets its own /metrics. */
export const metricsPortOf = (d: Deployable) => d.port + 1000;

/**
 * Provisions each service database (owner and app roles, passwords from the dev secrets) on the
 * local PostgreSQL and computes every process's environment, the way the charts do in a cluster:
 * services run as their app role, migrations as the owner, identity signs with a generated
 * key-encryption key and seeds one service credential per deployable; with `natsUsers` (the
 * nats-server `up` started), each deployable's NATS_URL logs in as its own NATS user.
 */
export async function wirePlatform(
  deployables: readonly Deployable[],
  infra: { pgAdminUrl: string; natsUrl: string; natsUsers?: DevNatsUsers | undefined },
  home: string,
  logLevel: string,
): Promise<PlatformWiring> {
  const withDb = deployables.filter((d) => d.database !== undefined);
  const secrets = loadDevSecrets(
    home,
    withDb.map((d) => d.database as string),
    [...deployables.map((d) => d.name), UP_CLIENT_ID, CLI_CLIENT_ID],
  );
  const dbUrls = new Map<string, { ownerUrl: string; appUrl: string; appRole: string }>();
  for (const d of withDb) {
    const database = d.database as string;
    const roles = conventionalRoles(database);
    const urls = await provisionDatabase({
      adminUrl: infra.pgAdminUrl,
      database,
      ownerRole: roles.owner,
      appRole: roles.app,
      passwords: secrets.databases[database] as { owner: string; app: string },
    });
    dbUrls.set(d.name, { ...urls, appRole: roles.app });
  }

  const identity = deployables.find((d) => d.name === "identity");
  const identityHttp = identity?.env.HTTP_PORT ?? "50072";
  const issuer = `http://127.0.0.1:${identityHttp}`;
  const restEdge = deployables.find((d) => d.name === "rest" && d.kind === "gateway");
  const serviceNames = deployables.filter((d) => d.kind === "service").map((d) => d.name);
  const clients = [
    ...deployables.map((d) => ({
      id: d.name,
      secret: secrets.clients[d.name] as string,
      audiences: serviceNames,
      roles:
        d.kind === "gateway"
          ? ["edge", "service"]
          : d.name === "tenancy"
            ? ["service", "tenant-data-admin"]
            : ["service"],
    })),
    {
      id: UP_CLIENT_ID,
      secret: secrets.clients[UP_CLIENT_ID] as string,
      audiences: serviceNames,
      roles: ["platform-admin", "edge"],
    },
    {
      id: CLI_CLIENT_ID,
      secret: secrets.clients[CLI_CLIENT_ID] as string,
      audiences: serviceNames,
      roles: ["platform-admin"],
    },
  ];
  const urls = Object.fromEntries(
    deployables.map((d) => [`${d.name.toUpperCase().replaceAll("-", "_")}_URL`, `http://127.0.0.1:${d.port}`]),
  );

  const wiring: PlatformWiring = {
    secrets,
    urlOf: (name) => {
      const d = deployables.find((x) => x.name === name);
      return d ? `http://127.0.0.1:${d.port}` : undefined;
    },
    envFor(d, phase) {
      const env: Record<string, string> = {
        NATS_URL: infra.natsUsers?.urlFor(infra.natsUrl, d.name) ?? infra.natsUrl,
        PORT: String(d.port),
        METRICS_PORT: String(metricsPortOf(d)),
        SERVICE_NAME: d.name,
        LOG_LEVEL: logLevel,
        AUTH_ISSUER: issuer,
        AUTH_JWKS_URL: `${issuer}/.well-known/jwks.json`,
        SERVICE_CLIENT_ID: d.name,
        SERVICE_CLIENT_SECRET: secrets.clients[d.name] as string,
        ...urls,
      };
      const db = dbUrls.get(d.name);
      if (db) {
        Object.assign(env, { DATABASE_URL: db.appUrl, OUTBOX_RELAY_DATABASE_URL: db.ownerUrl });
        if (phase === "migrate")
          Object.assign(env, { MIGRATION_DATABASE_URL: db.ownerUrl, DATABASE_APP_ROLE: db.appRole });
      } else {
        env.DATABASE_URL = infra.pgAdminUrl;
      }
      if (d.name === "tenancy" && phase === "main")
        Object.assign(env, tenancyDataPlane(deployables, infra, home), localCompute, {
          TENANCY_EXPORT_SIGNING_KEY: secrets.exportSigningKey,
        });
      if (d.name === "audit" && phase === "main") env.AUDIT_SIGNING_KEY = secrets.auditSigningKey;
      if (d === restEdge && identity) env.IDENTITY_HTTP_URL = `http://127.0.0.1:${identityHttp}`;
      if (d.name === "identity") {
        env.IDENTITY_KEY_ENCRYPTION_KEY = secrets.keyEncryptionKey;
        // passkeys locally: RP id localhost, ceremonies from pages served by the gateways' ports
        const origins = deployables.filter((g) => g.kind === "gateway").map((g) => `http://localhost:${g.port}`);
        env.IDENTITY_WEBAUTHN_RP_ID = "localhost";
        if (origins.length > 0) env.IDENTITY_WEBAUTHN_ORIGINS = origins.join(",");
        // single sign-on through the public edge: the IdP sends the browser back to the REST edge's
        // /sso/callback, which forwards it here (home-realm discovery: TENANCY_URL, above)
        if (restEdge) env.IDENTITY_SSO_PUBLIC_URL = `http://127.0.0.1:${restEdge.port}`;
        if (phase === "seed") {
          Object.assign(env, {
            IDENTITY_SEED_SERVICE_CLIENTS: JSON.stringify(clients),
            IDENTITY_SEED_PLATFORM_ADMIN_EMAIL: secrets.platformAdmin.email,
            IDENTITY_SEED_PLATFORM_ADMIN_PASSWORD: secrets.platformAdmin.password,
          });
        }
      }
      return env;
    },
  };
  // silo tenants get their own processes of the routed services, started by tenancy's `local`
  // compute driver from a spec file (the services' credentials stay out of tenancy's environment)
  const spec =
    deployables.some((d) => d.name === "tenancy") && !process.env.TENANCY_COMPUTE_DRIVER
      ? localComputeSpec(
          deployables,
          (d) => wiring.envFor(d, "main"),
          home,
          tenantChartVersion(dirname(dirname(deployables[0]?.dir ?? home))),
          metricsPortOf,
        )
      : undefined;
  const localCompute: Record<string, string> = spec
    ? { TENANCY_COMPUTE_DRIVER: "local", TENANCY_LOCAL_COMPUTE_FILE: writeLocalComputeSpec(home, spec) }
    : {};
  return wiring;
}

/**
 * Tier-move timings locally, unless the caller's environment sets them: every edge and service is
 * a local process that hears tenancy's placement events at once, so a few seconds of drain (the
 * old placement stays fenced) and grace (the source rows are kept) replace the cluster defaults
 * (35 s and 5 min), and a move, like `up --demo-tier bridge`'s, ends in seconds.
 */
const LOCAL_MOVE_TIMINGS = { TENANCY_MOVE_DRAIN_MS: "2000", TENANCY_MOVE_GRACE_MS: "5000" };

/**
 * tenancy's data plane locally: the services that hold tenant data (routed ones follow the tenant's
 * placement into dedicated databases on the local PostgreSQL, server "main"), exports under
 * `.tessera/exports`, signed with the dev export key, and {@link LOCAL_MOVE_TIMINGS}.
 */
function tenancyDataPlane(
  deployables: readonly Deployable[],
  infra: { pgAdminUrl: string },
  home: string,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const data = deployables
    .filter((d) => d.tenantData !== undefined && d.database !== undefined)
    .map((d) => ({
      name: d.name,
      url: `http://127.0.0.1:${d.port}`,
      routed: d.tenantData === "routed",
      database: d.database as string,
    }));
  return {
    TENANCY_DATA_SERVICES: JSON.stringify(data),
    TENANCY_DATABASE_SERVERS: JSON.stringify({ main: infra.pgAdminUrl }),
    TENANCY_DEFAULT_DATABASE_SERVER: "main",
    TENANCY_EXPORT_DIR: join(home, "exports"),
    ...Object.fromEntries(Object.entries(LOCAL_MOVE_TIMINGS).filter(([name]) => !env[name])),
  };
}
