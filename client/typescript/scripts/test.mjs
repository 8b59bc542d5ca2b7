// Runs every compiled test file (dist/test/*.test.js) with node:test. The
// files are named one by one: Node 18 and 20 read a directory argument
// differently.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { nodeEnv } from "./node_env.mjs";

const testDir = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "test");
const files = readdirSync(testDir)
  .filter((name) => name.endsWith(".test.js"))
  .sort()
  .map((name) => join(testDir, name));
const result = spawnSync(process.execPath, ["--test", ...files, ...process.argv.slice(2)], {
  stdio: "inherit",
  env: nodeEnv(),
});
process.exit(result.status ?? 1);
