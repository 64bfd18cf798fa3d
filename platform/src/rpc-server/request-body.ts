import { type DescMessage, fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Compression } from "@connectrpc/connect/protocol";

/** How a request body is laid out, from its content type. */
export interface BodyFormat {
  /** gRPC, gRPC-Web and Connect streaming: 5-byte-prefixed messages; Connect unary: the bare message. */
  readonly enveloped: boolean;
  /** Protobuf binary (checked here) or JSON (checked for UTF-8 here, parsed by Connect). */
  readonly binary: boolean;
  /** The header that names the messages' compression. */
  readonly encodingHeader: "grpc-encoding" | "connect-content-encoding" | "content-encoding";
}

const ENVELOPED = /^application\/(grpc(?:-web)?|connect)(?:\+(proto|json))?$/;
const UNARY = /^application\/(proto|json)$/;

/** The body layout of a content type Connect serves, or undefined (Connect answers those itself). */
export function bodyFormat(contentType: string | null): BodyFormat | undefined {
  const mime = (contentType ?? "").split(";", 1)[0]?.trim().toLowerCase() ?? "";
  const env = ENVELOPED.exec(mime);
  if (env) {
    // application/connect alone is not a content type Connect serves
    if (env[1] === "connect" && env[2] === undefined) return undefined;
    return {
      enveloped: true,
      binary: env[2] !== "json",
      encodingHeader: env[1] === "connect" ? "connect-content-encoding" : "grpc-encoding",
    };
  }
  const unary = UNARY.exec(mime);
  if (unary) return { enveloped: false, binary: unary[1] === "proto", encodingHeader: "content-encoding" };
  return undefined;
}

/** What {@link checkedRequestBody} needs to know about the call. */
export interface BodyCheck {
  readonly format: BodyFormat;
  /** The method's request message. */
  readonly input: DescMessage;
  /** The value of the format's encoding header, if any. */
  readonly encoding: string | null;
  readonly compressions: readonly Compression[];
  readonly readMaxBytes: number;
}

const FLAG_COMPRESSED = 0b01;
const HEADER_BYTES = 5;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function invalid(message: string, cause?: unknown): ConnectError {
  return new ConnectError(message, Code.InvalidArgument, undefined, undefined, cause);
}

function tooLarge(size: number, limit: number): ConnectError {
  return new ConnectError(
    `request message of ${size} bytes is larger than the limit of ${limit} bytes`,
    Code.ResourceExhausted,
  );
}

/**
 * The request body, checked before Connect reads it, so every malformed request is the caller's
 * INVALID_ARGUMENT (Connect itself answers INTERNAL to a message that does not parse, and to a
 * compressed message without an encoding): framing (flags, length prefixes, truncation), the size
 * limit (RESOURCE_EXHAUSTED naming it, before the message is buffered), decompression, protobuf
 * well-formedness (strict UTF-8 in strings included) and UTF-8 of JSON. Compressed envelopes are
 * passed on decompressed; everything else as it came.
 */
export async function* checkedRequestBody(
  source: AsyncIterable<Uint8Array>,
  check: BodyCheck,
): AsyncGenerator<Uint8Array> {
  const compression = resolveCompression(check);
  if (compression === null) {
    // an encoding Connect does not support: it answers UNIMPLEMENTED before reading the body
    yield* source;
    return;
  }
  if (!check.format.enveloped) {
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of source) {
      size += chunk.byteLength;
      if (size > check.readMaxBytes) throw tooLarge(size, check.readMaxBytes);
      chunks.push(chunk);
    }
    const body = concat(chunks, size);
    const message = compression ? await decompress(compression, body, check.readMaxBytes) : body;
    verifyMessage(message, check);
    yield body;
    return;
  }
  let buffer: Uint8Array = new Uint8Array(0);
  for await (const chunk of source) {
    buffer = buffer.byteLength === 0 ? chunk : concat([buffer, chunk], buffer.byteLength + chunk.byteLength);
    for (;;) {
      if (buffer.byteLength < HEADER_BYTES) break;
      const flags = buffer[0] as number;
      const length = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength).getUint32(1, false);
      if ((flags & ~FLAG_COMPRESSED) !== 0) {
        throw invalid(`protocol error: unknown message flags 0x${flags.toString(16).padStart(2, "0")}`);
      }
      if (length > check.readMaxBytes) throw tooLarge(length, check.readMaxBytes);
      if (buffer.byteLength < HEADER_BYTES + length) break;
      let data = buffer.subarray(HEADER_BYTES, HEADER_BYTES + length);
      buffer = buffer.subarray(HEADER_BYTES + length);
      if (flags & FLAG_COMPRESSED) {
        if (!compression) {
          throw invalid(
            `protocol error: message is flagged compressed, but the request has no ${check.format.encodingHeader}`,
          );
        }
        data = await decompress(compression, data, check.readMaxBytes);
      }
      verifyMessage(data, check);
      yield envelope(data);
    }
  }
  if (buffer.byteLength > 0) {
    const promised =
      buffer.byteLength >= HEADER_BYTES
        ? `${new DataView(buffer.buffer, buffer.byteOffset).getUint32(1, false)} bytes promised, ${buffer.byteLength - HEADER_BYTES} received`
        : `${buffer.byteLength} of the ${HEADER_BYTES} bytes of a message prefix received`;
    throw invalid(`protocol error: truncated message (${promised})`);
  }
}

/** The named compression; undefined for none; null for one that is not supported. */
function resolveCompression(check: BodyCheck): Compression | undefined | null {
  const name = check.encoding?.trim().toLowerCase();
  if (!name || name === "identity") return undefined;
  return check.compressions.find((c) => c.name === name) ?? null;
}

async function decompress(compression: Compression, data: Uint8Array, readMaxBytes: number): Promise<Uint8Array> {
  try {
    return await compression.decompress(data, readMaxBytes);
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.ResourceExhausted) {
      throw new ConnectError(
        `request message is larger than the limit of ${readMaxBytes} bytes after decompression`,
        Code.ResourceExhausted,
      );
    }
    throw invalid(`the request message is not valid ${compression.name} data`, err);
  }
}

function verifyMessage(data: Uint8Array, check: BodyCheck): void {
  if (check.format.binary) {
    try {
      fromBinary(check.input, data);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw invalid(`malformed ${check.input.typeName} message: ${reason}`, err);
    }
    return;
  }
  try {
    strictUtf8.decode(data);
  } catch (err) {
    throw invalid("the JSON request message is not valid UTF-8", err);
  }
}

function envelope(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + data.byteLength);
  new DataView(out.buffer).setUint32(1, data.byteLength, false);
  out.set(data, HEADER_BYTES);
  return out;
}

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
