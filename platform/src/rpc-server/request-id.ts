import { randomUUID } from "node:crypto";

/** Header that carries the request id between processes (and back to the caller). */
export const REQUEST_ID_HEADER = "x-request-id";

const SAFE_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * The caller's request id when it is a safe token (letters, digits, `._:-`, at most 128
 * characters), else a new UUID: a request id ends up in every log line, so it must not
 * carry arbitrary text.
 */
export function requestIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && SAFE_REQUEST_ID.test(value) ? value : randomUUID();
}
