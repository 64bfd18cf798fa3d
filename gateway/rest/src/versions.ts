/** Where an API version stands: dates from the configuration (V1_DEPRECATED_AT, V1_SUNSET_AT). */
export interface VersionLifecycle {
  /** When the version was (or will be) deprecated. */
  readonly deprecatedAt?: Date | undefined;
  /** When it stops being served. */
  readonly sunsetAt?: Date | undefined;
  /** A page about the deprecation (migration guide). */
  readonly link?: string | undefined;
}

/** The lifecycle of each URL version (`v1`, later `v2`, …). */
export type VersionPolicy = Readonly<Record<string, VersionLifecycle>>;

/** The URL version of a path (`/v1/projects` → `v1`), if it has one. */
export function versionOfPath(path: string): string | undefined {
  return /^\/(v\d+)(?:\/|$)/.exec(path)?.[1];
}

/**
 * Response headers announcing a version's retirement: `Deprecation` as an RFC 9745 date
 * (`@<unix seconds>`), `Sunset` as an RFC 8594 HTTP-date, and `Link` to the deprecation page
 * (rel="deprecation", and rel="sunset" when there is a sunset date). None for a current version.
 */
export function lifecycleHeaders(lifecycle: VersionLifecycle | undefined): Record<string, string> {
  if (!lifecycle) return {};
  const headers: Record<string, string> = {};
  if (lifecycle.deprecatedAt) headers.deprecation = `@${Math.floor(lifecycle.deprecatedAt.getTime() / 1000)}`;
  if (lifecycle.sunsetAt) headers.sunset = lifecycle.sunsetAt.toUTCString();
  if (lifecycle.link && (lifecycle.deprecatedAt || lifecycle.sunsetAt)) {
    const rels = [lifecycle.deprecatedAt && "deprecation", lifecycle.sunsetAt && "sunset"].filter(Boolean).join(" ");
    headers.link = `<${lifecycle.link}>; rel="${rels}"; type="text/html"`;
  }
  return headers;
}
