import {
  create,
  createFileRegistry,
  type DescFile,
  type DescMessage,
  type DescService,
  type Message,
  toBinary,
} from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
} from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter, type Interceptor, type ServiceImpl } from "@connectrpc/connect";

/** Fully-qualified names of the reflection services every server registers (v1 and the older v1alpha). */
export const REFLECTION_SERVICE_NAMES = [
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

/**
 * grpc/reflection/{v1,v1alpha}/reflection.proto, built from its definition: no npm package ships
 * it for protobuf-es, and the two files differ only in their package.
 */
function reflectionFile(version: "v1" | "v1alpha"): DescFile {
  const pkg = `grpc.reflection.${version}`;
  const scalar = (name: string, number: number, type: Type, extra: Record<string, unknown> = {}) => ({
    name,
    number,
    type,
    label: Label.OPTIONAL,
    jsonName: name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
    ...extra,
  });
  const msg = (name: string, number: number, typeName: string, extra: Record<string, unknown> = {}) =>
    scalar(name, number, Type.MESSAGE, { typeName: `.${pkg}.${typeName}`, ...extra });
  const proto = create(FileDescriptorProtoSchema, {
    name: `grpc/reflection/${version}/reflection.proto`,
    package: pkg,
    syntax: "proto3",
    messageType: [
      {
        name: "ServerReflectionRequest",
        field: [
          scalar("host", 1, Type.STRING),
          scalar("file_by_filename", 3, Type.STRING, { oneofIndex: 0 }),
          scalar("file_containing_symbol", 4, Type.STRING, { oneofIndex: 0 }),
          msg("file_containing_extension", 5, "ExtensionRequest", { oneofIndex: 0 }),
          scalar("all_extension_numbers_of_type", 6, Type.STRING, { oneofIndex: 0 }),
          scalar("list_services", 7, Type.STRING, { oneofIndex: 0 }),
        ],
        oneofDecl: [{ name: "message_request" }],
      },
      {
        name: "ExtensionRequest",
        field: [scalar("containing_type", 1, Type.STRING), scalar("extension_number", 2, Type.INT32)],
      },
      {
        name: "ServerReflectionResponse",
        field: [
          scalar("valid_host", 1, Type.STRING),
          msg("original_request", 2, "ServerReflectionRequest"),
          msg("file_descriptor_response", 4, "FileDescriptorResponse", { oneofIndex: 0 }),
          msg("all_extension_numbers_response", 5, "ExtensionNumberResponse", { oneofIndex: 0 }),
          msg("list_services_response", 6, "ListServiceResponse", { oneofIndex: 0 }),
          msg("error_response", 7, "ErrorResponse", { oneofIndex: 0 }),
        ],
        oneofDecl: [{ name: "message_response" }],
      },
      {
        name: "FileDescriptorResponse",
        field: [scalar("file_descriptor_proto", 1, Type.BYTES, { label: Label.REPEATED })],
      },
      {
        name: "ExtensionNumberResponse",
        field: [
          scalar("base_type_name", 1, Type.STRING),
          scalar("extension_number", 2, Type.INT32, { label: Label.REPEATED }),
        ],
      },
      {
        name: "ListServiceResponse",
        field: [msg("service", 1, "ServiceResponse", { label: Label.REPEATED })],
      },
      { name: "ServiceResponse", field: [scalar("name", 1, Type.STRING)] },
      {
        name: "ErrorResponse",
        field: [scalar("error_code", 1, Type.INT32), scalar("error_message", 2, Type.STRING)],
      },
    ],
    service: [
      {
        name: "ServerReflection",
        method: [
          {
            name: "ServerReflectionInfo",
            inputType: `.${pkg}.ServerReflectionRequest`,
            outputType: `.${pkg}.ServerReflectionResponse`,
            clientStreaming: true,
            serverStreaming: true,
          },
        ],
      },
    ],
  });
  const file = createFileRegistry(proto, () => undefined).getFile(proto.name);
  if (!file) throw new Error(`cannot build ${proto.name}`);
  return file;
}

/** The ServerReflection service of a reflection version, for clients (tests, tools). */
export function reflectionService(version: "v1" | "v1alpha"): DescService {
  return reflectionFile(version).services[0] as DescService;
}

/** Every file, symbol and extension reachable from the registered services' files. */
class DescriptorIndex {
  readonly files = new Map<string, DescFile>();
  readonly symbols = new Map<string, DescFile>();
  readonly extensions = new Map<string, Map<number, DescFile>>();

  add(file: DescFile): void {
    if (this.files.has(file.proto.name)) return;
    this.files.set(file.proto.name, file);
    for (const dep of file.dependencies) this.add(dep);
    for (const e of file.enums) this.symbols.set(e.typeName, file);
    for (const m of file.messages) this.#message(file, m);
    for (const x of file.extensions) this.#extension(file, x.typeName, x.extendee.typeName, x.number);
    for (const s of file.services) {
      this.symbols.set(s.typeName, file);
      for (const m of s.methods) this.symbols.set(`${s.typeName}.${m.name}`, file);
    }
  }

  #message(file: DescFile, m: DescMessage): void {
    this.symbols.set(m.typeName, file);
    for (const e of m.nestedEnums) this.symbols.set(e.typeName, file);
    for (const n of m.nestedMessages) this.#message(file, n);
    for (const x of m.nestedExtensions) this.#extension(file, x.typeName, x.extendee.typeName, x.number);
  }

  #extension(file: DescFile, name: string, extendee: string, number: number): void {
    this.symbols.set(name, file);
    let byNumber = this.extensions.get(extendee);
    if (!byNumber) {
      byNumber = new Map();
      this.extensions.set(extendee, byNumber);
    }
    byNumber.set(number, file);
  }
}

type Loose = Message & Record<string, unknown>;
type Oneof = { case: string | undefined; value?: unknown };

/**
 * Registers gRPC server reflection (grpc.reflection.v1 and v1alpha) for every service on the
 * router, so tools such as grpcurl list, describe and call them without .proto files. Like health,
 * it is registered without the caller's interceptors (it reveals the contracts, never data);
 * `interceptors` are the kit's own input checks. The services are read when the first reflection
 * call arrives, so register it in any order.
 */
export function registerReflectionService(router: ConnectRouter, interceptors: Interceptor[] = []): void {
  const files = { v1: reflectionFile("v1"), v1alpha: reflectionFile("v1alpha") };
  let index: DescriptorIndex | undefined;
  let names: string[] = [];
  const load = (): DescriptorIndex => {
    if (index) return index;
    const services = new Map<string, DescService>();
    for (const h of router.handlers) services.set(h.service.typeName, h.service);
    index = new DescriptorIndex();
    for (const s of services.values()) index.add(s.file);
    names = [...services.keys()].sort();
    return index;
  };

  for (const file of Object.values(files)) {
    const service = file.services[0] as DescService;
    const method = service.methods[0];
    if (!method) continue;
    const responseDesc = method.output;
    const impl = {
      async *serverReflectionInfo(requests: AsyncIterable<Loose>) {
        const idx = load();
        const sent = new Set<string>();
        for await (const req of requests) {
          const request = req.messageRequest as Oneof;
          yield create(responseDesc, {
            validHost: req.host,
            originalRequest: req,
            messageResponse: answer(idx, names, request, sent),
          } as never);
        }
      },
    };
    router.service(service, impl as unknown as ServiceImpl<DescService>, { interceptors });
  }
}

function fileResponse(index: DescriptorIndex, file: DescFile, sent: Set<string>): Oneof {
  const out: Uint8Array[] = [];
  const visit = (f: DescFile, root: boolean) => {
    if (!root && sent.has(f.proto.name)) return;
    sent.add(f.proto.name);
    out.push(toBinary(FileDescriptorProtoSchema, f.proto));
    for (const dep of f.dependencies) visit(index.files.get(dep.proto.name) ?? dep, false);
  };
  visit(file, true);
  return { case: "fileDescriptorResponse", value: { fileDescriptorProto: out } };
}

function notFound(message: string): Oneof {
  return { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: message } };
}

function answer(index: DescriptorIndex, names: readonly string[], request: Oneof, sent: Set<string>): Oneof {
  switch (request.case) {
    case "listServices":
      return {
        case: "listServicesResponse",
        value: { service: [...names].map((name) => ({ name })) },
      };
    case "fileByFilename": {
      const file = index.files.get(String(request.value));
      return file ? fileResponse(index, file, sent) : notFound(`file not found: ${String(request.value)}`);
    }
    case "fileContainingSymbol": {
      const symbol = String(request.value).replace(/^\./, "");
      const file = index.symbols.get(symbol);
      return file ? fileResponse(index, file, sent) : notFound(`symbol not found: ${symbol}`);
    }
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = request.value as { containingType: string; extensionNumber: number };
      const file = index.extensions.get(containingType)?.get(extensionNumber);
      return file
        ? fileResponse(index, file, sent)
        : notFound(`extension not found: ${containingType} number ${extensionNumber}`);
    }
    case "allExtensionNumbersOfType": {
      const type = String(request.value);
      if (!index.symbols.has(type)) return notFound(`type not found: ${type}`);
      return {
        case: "allExtensionNumbersResponse",
        value: {
          baseTypeName: type,
          extensionNumber: [...(index.extensions.get(type)?.keys() ?? [])].sort((a, b) => a - b),
        },
      };
    }
    default:
      return {
        case: "errorResponse",
        value: { errorCode: Code.InvalidArgument, errorMessage: "the request names nothing to reflect on" },
      };
  }
}
