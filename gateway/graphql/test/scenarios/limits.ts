import { request } from "node:http";
import { describe, expect, it } from "vitest";
import { codes } from "../support.ts";
import type { Env } from "./env.ts";

const DEEP = `{ projects(first: 1) { edges { node { tasks(first: 1) { edges { node {
  comments(first: 1) { edges { node { task { project { tasks(first: 1) { edges { node { id } } } } } } } } } } } } } } }`;

/** Limits, introspection, and how bad requests are answered. */
export function limitScenarios(env: () => Env): void {
  describe("operation limits", () => {
    it.each([
      ["depth", DEEP, {}, "DEPTH_LIMIT_EXCEEDED"],
      [
        "aliases",
        `{ ${Array.from({ length: 31 }, (_, i) => `a${i}: __typename`).join(" ")} viewer { user { id } } }`,
        {},
        "ALIAS_LIMIT_EXCEEDED",
      ],
      [
        "cost",
        `query($n: Int) { projects(first: $n) { edges { node { tasks(first: $n) { edges { node { id title } } } } } } }`,
        { n: 100 },
        "COMPLEXITY_LIMIT_EXCEEDED",
      ],
      ["page size", `{ projects(first: 101) { edges { node { id } } } }`, {}, "BAD_USER_INPUT"],
    ])("refuses a query over the %s limit with a code, before any call to a service", async (_n, query, vars, code) => {
      const { gw, a, counter } = env();
      const exchanges = gw.deps.exchanger.stats().exchanges;
      const { result, calls } = await counter.during(() => gw.gql(query, vars, a.tokens.viewer));
      expect(codes(result)).toEqual([code]);
      expect(result.body.data ?? null).toBeNull();
      expect(calls).toEqual([]);
      expect(gw.deps.exchanger.stats().exchanges).toBe(exchanges);
    });
  });

  describe("introspection and GraphiQL", () => {
    it("are off with production settings, without schema hints in error messages", async () => {
      const { gw, a } = env();
      const intro = await gw.gql(`{ __schema { queryType { name } } }`, {}, a.tokens.owner);
      expect(codes(intro)).toEqual(["INTROSPECTION_DISABLED"]);
      const typo = await gw.gql(`{ projcts { edges { node { id } } } }`, {}, a.tokens.owner);
      expect(typo.body.errors?.[0]?.message).toBe('Cannot query field "projcts" on type "Query".');
      const page = await fetch(gw.url, { headers: { accept: "text/html" } });
      expect(page.headers.get("content-type") ?? "").not.toContain("text/html");
    });

    it("are on in dev mode, introspection without a credential", async () => {
      const { dev } = env();
      const intro = await dev.gql(`{ __schema { queryType { name } } }`);
      expect(intro.body).toEqual({ data: { __schema: { queryType: { name: "Query" } } } });
      const page = await fetch(dev.url, { headers: { accept: "text/html" } });
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toContain("text/html");
    });
  });

  describe("bad requests", () => {
    it("answers with a code: syntax, wrong variable types, oversized bodies", async () => {
      const { gw, a } = env();
      const syntax = await gw.gql(`{ projects( }`, {}, a.tokens.owner);
      expect(codes(syntax)).toEqual(["GRAPHQL_PARSE_FAILED"]);
      const variable = await gw.gql(
        `query($n: Int) { projects(first: $n) { edges { cursor } } }`,
        { n: "x" },
        a.tokens.owner,
      );
      expect(codes(variable)).toEqual(["BAD_USER_INPUT"]);
      const big = await gw.gql(`{ __typename }`, { pad: "x".repeat(300_000) }, a.tokens.owner);
      expect(big.status).toBe(413);
      expect(codes(big)).toEqual(["PAYLOAD_TOO_LARGE"]);
    });

    it("reads only bodies with a length, and allows no other origin unless configured", async () => {
      const { gw } = env();
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(gw.url, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.write('{"query":"{ __typename }"}');
        req.end();
      });
      expect(status).toBe(411);
      const preflight = await fetch(gw.url, {
        method: "OPTIONS",
        headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
      });
      expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    });

    it("never masks an expected service answer as an unexpected error", async () => {
      const { gw, a } = env();
      const notMine = await gw.gql(
        `mutation { updateTask(input: { id: "${Buffer.from("Task:00000000-0000-4000-8000-000000000000").toString("base64")}", title: "x" }) {
          __typename ... on Error { code message } } }`,
        {},
        a.tokens.member,
      );
      expect(notMine.body).toEqual({
        data: { updateTask: { __typename: "NotFoundError", code: "NOT_FOUND", message: "Not found." } },
      });
    });
  });
}
