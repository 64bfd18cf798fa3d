/**
 * Bootstrap: creates or updates the service clients and the first platform admin from the
 * environment, idempotently, then exits. Run after migrate.ts (by `./tessera up`, a Helm hook Job,
 * or by hand): `node src/seed.ts`. See README.md, "Bootstrapping".
 */
import { loadConfigOrExit, z } from "@tessera/platform/config";
import { createDb } from "@tessera/platform/db";
import { createLogger, setRootLogger } from "@tessera/platform/log";
import { ensurePlatformAdmin } from "./domain/bootstrap.ts";
import { createPasswordHasher } from "./domain/passwords.ts";
import { upsertServiceClient } from "./domain/service-clients.ts";

const name = /^[a-z][a-z0-9-]{0,62}$/;
const clients = z.array(
  z.object({
    id: z.string().regex(name),
    secret: z.string().min(16).max(256),
    audiences: z.array(z.string().regex(name)).min(1),
    roles: z.array(z.string().min(1).max(64)).default([]),
  }),
);

const seedEnv = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  IDENTITY_SEED_SERVICE_CLIENTS: z
    .string()
    .default("[]")
    .transform((v, ctx) => {
      try {
        return clients.parse(JSON.parse(v));
      } catch {
        ctx.addIssue({ code: "custom", message: "must be a JSON array of {id, secret, audiences, roles}" });
        return z.NEVER;
      }
    }),
  IDENTITY_SEED_PLATFORM_ADMIN_EMAIL: z.email().optional(),
  IDENTITY_SEED_PLATFORM_ADMIN_PASSWORD: z.string().min(12).max(1024).optional(),
  IDENTITY_ARGON2_MEMORY_KIB: z.coerce.number().int().min(8).default(19_456),
  IDENTITY_ARGON2_TIME_COST: z.coerce.number().int().min(1).default(2),
  IDENTITY_ARGON2_PARALLELISM: z.coerce.number().int().min(1).default(1),
});

const config = loadConfigOrExit("identity-seed", seedEnv);
const logger = createLogger({ service: "identity-seed", level: config.LOG_LEVEL });
setRootLogger(logger);
const db = await createDb({ url: config.DATABASE_URL, entities: [], logger, applicationName: "identity-seed" });
try {
  const hasher = await createPasswordHasher({
    memoryCost: config.IDENTITY_ARGON2_MEMORY_KIB,
    timeCost: config.IDENTITY_ARGON2_TIME_COST,
    parallelism: config.IDENTITY_ARGON2_PARALLELISM,
  });
  const deps = { orm: db.orm, hasher };
  for (const client of config.IDENTITY_SEED_SERVICE_CLIENTS) {
    await upsertServiceClient(deps, client);
    logger.info({ client_id: client.id, audiences: client.audiences, roles: client.roles }, "service client seeded");
  }
  const email = config.IDENTITY_SEED_PLATFORM_ADMIN_EMAIL;
  const password = config.IDENTITY_SEED_PLATFORM_ADMIN_PASSWORD;
  if (email && password) {
    const { userId, created } = await ensurePlatformAdmin(deps, { email, password });
    logger.info({ user_id: userId, created }, "platform admin seeded");
  } else if (email || password) {
    logger.error("IDENTITY_SEED_PLATFORM_ADMIN_EMAIL and _PASSWORD go together");
    process.exitCode = 1;
  }
} catch (err) {
  logger.error({ err }, "seeding failed");
  process.exitCode = 1;
} finally {
  await db.close();
  logger.flush();
}
