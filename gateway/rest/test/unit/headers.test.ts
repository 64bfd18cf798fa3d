import { describe, expect, it } from "vitest";
import { etagOf, expectedVersionOf, noneMatchHits } from "../../src/etag.ts";
import { ProblemError } from "../../src/problems.ts";
import { lifecycleHeaders, versionOfPath } from "../../src/versions.ts";

describe("ETags", () => {
  it("derives a strong ETag from the version", () => {
    expect(etagOf(3)).toBe('"v3"');
    expect(etagOf(12n)).toBe('"v12"');
  });

  it("matches If-None-Match weakly: lists, W/ prefixes and *", () => {
    expect(noneMatchHits('"v3"', '"v3"')).toBe(true);
    expect(noneMatchHits('W/"v3"', '"v3"')).toBe(true);
    expect(noneMatchHits('"v1", "v3"', '"v3"')).toBe(true);
    expect(noneMatchHits("*", '"v3"')).toBe(true);
    expect(noneMatchHits('"v2"', '"v3"')).toBe(false);
    expect(noneMatchHits("v3", '"v3"')).toBe(false);
    expect(noneMatchHits(undefined, '"v3"')).toBe(false);
  });

  it("turns If-Match into the expected version, and refuses tags that can never match with 412", () => {
    expect(expectedVersionOf(undefined)).toBe(0n);
    expect(expectedVersionOf("*")).toBe(0n);
    expect(expectedVersionOf('"v7"')).toBe(7n);
    for (const bad of ['W/"v7"', '"abc"', "v7", '"v-1"']) {
      let err: unknown;
      try {
        expectedVersionOf(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(ProblemError);
      expect((err as ProblemError).problem.status).toBe(412);
    }
  });
});

describe("version lifecycle headers", () => {
  it("finds the URL version of a path", () => {
    expect(versionOfPath("/v1/projects")).toBe("v1");
    expect(versionOfPath("/v12")).toBe("v12");
    expect(versionOfPath("/healthz")).toBeUndefined();
    expect(versionOfPath("/v1x/projects")).toBeUndefined();
  });

  it("sends nothing for a current version", () => {
    expect(lifecycleHeaders(undefined)).toEqual({});
    expect(lifecycleHeaders({})).toEqual({});
  });

  it("announces deprecation (RFC 9745), sunset (RFC 8594) and the migration page", () => {
    const headers = lifecycleHeaders({
      deprecatedAt: new Date("2026-01-01T00:00:00Z"),
      sunsetAt: new Date("2026-07-01T00:00:00Z"),
      link: "https://example.test/migrate-to-v2",
    });
    expect(headers).toEqual({
      deprecation: "@1767225600",
      sunset: "Wed, 01 Jul 2026 00:00:00 GMT",
      link: '<https://example.test/migrate-to-v2>; rel="deprecation sunset"; type="text/html"',
    });
  });
});
