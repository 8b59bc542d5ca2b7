// Generates typed messages and grpc-js clients for verdict.v1 from the
// repository's proto/ with ts-proto, into src/gen (not committed: the protos
// are the one source). protoc comes from Debian's protobuf-compiler.
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const protoRoot = join(root, "..", "..", "proto");
const out = join(root, "src", "gen");
const plugin = join(root, "node_modules", ".bin", "protoc-gen-ts_proto");

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
execFileSync(
  "protoc",
  [
    `--plugin=protoc-gen-ts_proto=${plugin}`,
    `--ts_proto_out=${out}`,
    [
      "outputServices=grpc-js",
      "esModuleInterop=true",
      "importSuffix=.js",
      "useDate=true",
      "forceLong=number",
      "oneof=unions-value",
      "useOptionals=messages",
      "env=node",
    ]
      .map((option) => `--ts_proto_opt=${option}`)
      .join(" ")
      .split(" "),
    `--proto_path=${protoRoot}`,
    "verdict/v1/authorizer.proto",
    "verdict/v1/grants.proto",
    "verdict/v1/admin.proto",
  ].flat(),
  { stdio: "inherit" },
);
