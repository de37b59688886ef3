import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ServiceDefinition } from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { projectRoot } from "../mesh/config";

/**
 * The grpc-js definition of every shop service in the contracts (`shop.*` packages of the
 * descriptor set that codegen writes), by fully-qualified name: each file's services, found in
 * the ts-proto module codegen made beside it (`gen/<file>.ts` exports `<Name>Service`).
 */
export function shopServiceDefinitions(): Record<string, ServiceDefinition> {
  const root = projectRoot();
  const set = fromBinary(
    FileDescriptorSetSchema,
    readFileSync(join(root, "gen", "descriptor-set.binpb")),
  );
  const definitions: Record<string, ServiceDefinition> = {};
  for (const file of set.file) {
    if (!file.package.startsWith("shop.") || file.service.length === 0) continue;
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- found by file name
    const module = require(join(root, "gen", file.name.replace(/\.proto$/, ""))) as Record<
      string,
      ServiceDefinition | undefined
    >;
    for (const service of file.service) {
      const definition = module[`${service.name}Service`];
      if (!definition) throw new Error(`gen/${file.name}: no ${service.name}Service export`);
      definitions[`${file.package}.${service.name}`] = definition;
    }
  }
  return definitions;
}
