// Runs a compiled program of the package (the demo, the benchmark) with the
// environment of node_env.mjs.
import { spawnSync } from "node:child_process";

import { nodeEnv } from "./node_env.mjs";

const result = spawnSync(process.execPath, process.argv.slice(2), { stdio: "inherit", env: nodeEnv() });
process.exit(result.status ?? 1);
