// The environment the package's own programs (tests, demo, benchmark) run
// Node with. The SDK's Streamable HTTP server transport calls the global
// Web Crypto (crypto.randomUUID()), which Node 18 (Debian 12's nodejs)
// offers only behind --experimental-global-webcrypto; later Nodes have it.
export function nodeEnv() {
  const major = Number(process.versions.node.split(".")[0]);
  if (major >= 19 || globalThis.crypto !== undefined) return process.env;
  const options = [process.env.NODE_OPTIONS, "--experimental-global-webcrypto"].filter(Boolean);
  return { ...process.env, NODE_OPTIONS: options.join(" ") };
}
