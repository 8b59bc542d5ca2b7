/**
 * A JWT issuer made at run time, for tests, the demo and the benchmark: an
 * ES256 key from node:crypto, its JWKS for verdictd's `jwks_file`, and
 * access tokens signed with it. Nothing here is fit for production keys.
 */
import { generateKeyPairSync, type KeyObject, randomUUID, sign } from "node:crypto";

export interface TokenClaims {
  sub: string;
  /** The resource the token is for (RFC 8707): an `mcp_servers[].resource`. */
  aud: string | string[];
  /** Space-separated OAuth scopes. */
  scope?: string;
  [claim: string]: unknown;
}

export interface TokenTimes {
  /** Seconds from now until `exp`; negative for a token that has expired. Default 600. */
  expiresIn?: number;
  /** Seconds from now of `iat`. Default 0. */
  issuedAt?: number;
}

export class TestIssuer {
  readonly kid = "test-key-1";
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;

  constructor(readonly issuer = "https://idp.test.example") {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.privateKey = privateKey;
    this.publicKey = publicKey;
  }

  /** The JWKS document verdictd loads (one ES256 signing key). */
  jwks(): string {
    const jwk = this.publicKey.export({ format: "jwk" });
    return JSON.stringify({ keys: [{ ...jwk, kid: this.kid, alg: "ES256", use: "sig" }] });
  }

  /** A signed access token. */
  token(claims: TokenClaims, times: TokenTimes = {}): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: "ES256", typ: "at+jwt", kid: this.kid };
    const payload = {
      iss: this.issuer,
      iat: now + (times.issuedAt ?? 0),
      exp: now + (times.expiresIn ?? 600),
      jti: randomUUID(),
      ...claims,
    };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
    // JWS wants ECDSA signatures as raw r||s, not DER (RFC 7518 section 3.4).
    const signature = sign("sha256", Buffer.from(signingInput), { key: this.privateKey, dsaEncoding: "ieee-p1363" });
    return `${signingInput}.${signature.toString("base64url")}`;
  }

  /**
   * verdictd's `authentication` and `mcp_servers` sections for this issuer:
   * roles from `groups`, the named claims as subject attributes, and each
   * MCP server bound to its resource. The JWKS file is `jwksFile`, relative
   * to verdictd's working directory.
   */
  config(options: {
    jwksFile: string;
    servers: { name: string; resource: string }[];
    attributes?: string[];
  }): string {
    const servers = options.servers
      .map((server) => `  - name: ${server.name}\n    resource: ${JSON.stringify(server.resource)}\n`)
      .join("");
    return (
      "authentication:\n" +
      "  jwt:\n" +
      `    - issuer: ${JSON.stringify(this.issuer)}\n` +
      `      jwks_file: ${JSON.stringify(options.jwksFile)}\n` +
      "      algorithms: [ES256]\n" +
      `      claims: {roles: groups, attributes: ${JSON.stringify(options.attributes ?? [])}}\n` +
      "mcp_servers:\n" +
      servers
    );
  }
}

function base64url(text: string): string {
  return Buffer.from(text).toString("base64url");
}
