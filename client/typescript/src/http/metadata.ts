/**
 * The RFC 9728 protected-resource metadata document an MCP client fetches
 * from the `resource_metadata` URL of a 401 or 403 challenge, to find the
 * authorization server to get a token from.
 */
import { metadataHandler } from "@modelcontextprotocol/sdk/server/auth/handlers/metadata.js";
import type { OAuthProtectedResourceMetadata } from "@modelcontextprotocol/sdk/shared/auth.js";
import express, { type Router } from "express";

export interface ProtectedResourceMetadataOptions {
  /**
   * The server's canonical resource URI: must equal its
   * `mcp_servers[].resource` in verdictd's configuration, which is the
   * audience its tokens carry and what Verdict's challenges point here for.
   */
  resource: string | URL;
  /** Issuer URLs of the authorization servers that mint tokens for it. */
  authorizationServers: (string | URL)[];
  /** The scopes its policies ask for, e.g. a step-up scope. */
  scopesSupported?: string[];
  /** A human-readable name for consent screens. */
  resourceName?: string;
  resourceDocumentation?: string | URL;
}

/**
 * Serves the document at `/.well-known/oauth-protected-resource` followed by
 * the resource's path (RFC 9728 section 3.1, where verdictd's challenges
 * point by default), and at `/.well-known/oauth-protected-resource` itself
 * for clients that try the root. Mount it at the application's root.
 */
export function protectedResourceMetadataRouter(options: ProtectedResourceMetadataOptions): Router {
  // As given, not normalized: clients compare `resource` with the URL they
  // asked for, and authorization servers with the issuer, as strings.
  const resource = String(options.resource);
  const metadata: OAuthProtectedResourceMetadata = {
    resource,
    authorization_servers: options.authorizationServers.map(String),
    bearer_methods_supported: ["header"],
  };
  if (options.scopesSupported) metadata.scopes_supported = options.scopesSupported;
  if (options.resourceName) metadata.resource_name = options.resourceName;
  if (options.resourceDocumentation) {
    metadata.resource_documentation = String(options.resourceDocumentation);
  }
  const router = express.Router();
  const path = new URL(resource).pathname.replace(/\/$/, "");
  if (path) router.use(`/.well-known/oauth-protected-resource${path}`, metadataHandler(metadata));
  router.use("/.well-known/oauth-protected-resource", metadataHandler(metadata));
  return router;
}
