import { generateKeyPairSync, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Local development secrets, generated once and kept in `<home>/secrets.json` (mode 0600, inside
 * the git-ignored data folder) so database passwords and keys stay stable across restarts.
 * Nothing here is used outside `./tessera up`; production secrets come from the charts' secret refs.
 */
export interface DevSecrets {
  /** Login passwords of each service database's owner and app roles. */
  databases: Record<string, { owner: string; app: string }>;
  /** Each deployable's service-credential secret (client id = deployable name), plus `tessera-up`'s and the operator CLI's (`tessera-cli`). */
  clients: Record<string, string>;
  /** identity's key-encryption key (base64 of 32 bytes). */
  keyEncryptionKey: string;
  /** tenancy's Ed25519 key (PEM) that signs export bundles. */
  exportSigningKey: string;
  /** audit's Ed25519 key (PEM) that signs chain heads and retention checkpoints. */
  auditSigningKey: string;
  /** The local platform operator (identity seeds it). */
  platformAdmin: { email: string; password: string };
  /** The demo tenant's owner. */
  demoOwner: { email: string; password: string };
  /** Passwords of the local nats-server's users: one per deployable with NATS access, and the admin. */
  nats: Record<string, string>;
}

const secret = () => randomBytes(24).toString("base64url");

/** The secrets file's path. */
export const secretsFile = (home: string) => join(home, "secrets.json");

/** Reads the secrets, generating (and saving) whatever is missing for these databases, clients and NATS users. */
export function loadDevSecrets(
  home: string,
  databases: readonly string[],
  clients: readonly string[],
  natsUsers: readonly string[] = [],
): DevSecrets {
  const file = secretsFile(home);
  const stored: Partial<DevSecrets> = existsSync(file)
    ? (JSON.parse(readFileSync(file, "utf8")) as Partial<DevSecrets>)
    : {};
  const secrets: DevSecrets = {
    databases: { ...stored.databases },
    clients: { ...stored.clients },
    keyEncryptionKey: stored.keyEncryptionKey ?? randomBytes(32).toString("base64"),
    exportSigningKey:
      stored.exportSigningKey ??
      generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    auditSigningKey:
      stored.auditSigningKey ??
      generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    platformAdmin: stored.platformAdmin ?? { email: "admin@tessera.localhost", password: secret() },
    demoOwner: stored.demoOwner ?? { email: "owner@demo.tessera.localhost", password: secret() },
    nats: { ...stored.nats },
  };
  for (const db of databases) secrets.databases[db] ??= { owner: secret(), app: secret() };
  for (const client of clients) secrets.clients[client] ??= secret();
  for (const user of natsUsers) secrets.nats[user] ??= secret();
  const text = `${JSON.stringify(secrets, null, 2)}\n`;
  if (!existsSync(file) || readFileSync(file, "utf8") !== text) {
    mkdirSync(home, { recursive: true });
    writeFileSync(file, text, { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  return secrets;
}
