import { InvalidArgument } from "@tessera/platform/errors";

const HOSTNAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;

/** A domain in the form the registry stores: lower case, no trailing dot. */
export function normalizeDomain(domain: string): string {
  return domain.trim().toLowerCase().replace(/\.$/, "");
}

/**
 * The domain to resolve from an email address ("ada@Example.com" → "example.com") or a bare
 * domain; InvalidArgument on `field` when there is none.
 */
export function domainOfEmail(value: string, field: string): string {
  const at = value.lastIndexOf("@");
  const domain = normalizeDomain(at >= 0 ? value.slice(at + 1) : value);
  if (!HOSTNAME.test(domain)) {
    throw new InvalidArgument("not an email address or domain", [
      { field, message: "must be an email address or a domain name such as example.com" },
    ]);
  }
  return domain;
}

/** Normalises and de-duplicates a list of verified domains (the contract already checked their shape). */
export function normalizeDomains(domains: readonly string[], field: string): string[] {
  const out = [...new Set(domains.map(normalizeDomain))];
  const bad = out.findIndex((d) => !HOSTNAME.test(d));
  if (bad >= 0) {
    throw new InvalidArgument("not a domain name", [
      { field: `${field}[${bad}]`, message: "must be a domain name with at least two labels, such as example.com" },
    ]);
  }
  return out.sort();
}
