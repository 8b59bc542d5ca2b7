/**
 * A throwaway PKI for TLS tests, made with the openssl command line: a CA,
 * verdictd's certificate (SAN 127.0.0.1 and localhost) and one client
 * certificate per SPIFFE ID, all signed by the CA.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Pki {
  dir: string;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** PEM of the CA, the client's chain and its key. */
  ca: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
  remove(): void;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

function issue(dir: string, name: string, subjectAltName: string): void {
  openssl(dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${subjectAltName}\n`);
  openssl(dir, "x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key",
    "-CAcreateserial", "-days", "1", "-extfile", `${name}.ext`, "-out", `${name}.pem`);
}

export function makePki(clientSpiffeId: string): Pki {
  const dir = mkdtempSync(join(tmpdir(), "verdict-pki-"));
  openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=test-ca");
  issue(dir, "server", "IP:127.0.0.1,DNS:localhost");
  issue(dir, "client", `URI:${clientSpiffeId}`);
  return {
    dir,
    caFile: join(dir, "ca.pem"),
    serverCertFile: join(dir, "server.pem"),
    serverKeyFile: join(dir, "server.key"),
    ca: readFileSync(join(dir, "ca.pem")),
    clientCert: readFileSync(join(dir, "client.pem")),
    clientKey: readFileSync(join(dir, "client.key")),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
