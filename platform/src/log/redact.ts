/**
 * Keys whose values never reach a log line, at any depth pino can address. Matching is on the
 * key name: the kit's code and services name such fields this way.
 */
const SECRET_KEYS = [
  "authorization",
  "Authorization",
  "cookie",
  "Cookie",
  "set-cookie",
  "password",
  "newPassword",
  "currentPassword",
  "passwordHash",
  "token",
  "accessToken",
  "access_token",
  "refreshToken",
  "refresh_token",
  "idToken",
  "id_token",
  "apiKey",
  "api_key",
  "x-api-key",
  "secret",
  "clientSecret",
  "client_secret",
  "totpSecret",
  "totp_secret",
  "privateKey",
  "private_key",
  "jwt",
];

/** pino redact paths: top level, one and two levels deep, and inside request headers/metadata. */
export const REDACT_PATHS: string[] = SECRET_KEYS.flatMap((k) => {
  const key = /^[A-Za-z_$][\w$]*$/.test(k) ? k : `["${k}"]`;
  const join = (prefix: string) => (key.startsWith("[") ? `${prefix}${key}` : `${prefix}.${key}`);
  return [
    key.startsWith("[") ? key.slice(2, -2) : key,
    join("*"),
    join("*.*"),
    join("headers"),
    join("req.headers"),
    join("metadata"),
  ];
});

/** Patterns of credentials that may hide inside free text (a message, an error string). */
const INLINE_SECRETS: RegExp[] = [
  /\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*/g, // JWT / JWS compact
  /\b(Bearer|Basic)\s+[\w\-.~+/=]{8,}/gi,
  /\btsk_(live|test)_[\w-]{8,}/g, // Tessera API keys
  /\btss_scim_[\w-]{8,}/g, // Tessera SCIM tokens
  /\btso_[\w-]{20,}/g, // Tessera SSO login codes (one-time, in the frontend's URL)
];

/** Masks credentials found in a string. CR/LF are handled by JSON encoding, which escapes them. */
export function scrubLine(value: string): string {
  let out = value;
  for (const re of INLINE_SECRETS) out = out.replace(re, "[REDACTED]");
  return out;
}
