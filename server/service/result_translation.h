// Translation between the public API and the engine, both ways: a
// CheckRequest's tool, action, resource, context and asserted subject into
// an engine::Request, and an engine::Result into the public CheckResponse
// (decision, reasons with policy and rule, obligations merged from the
// matched allow rules, the first rule winning on a key both set, and the
// explain trace).
//
// Shared by verdictd's Decider and `verdict test`'s in-process runner, so a
// suite judged in process sees exactly what verdictd would. Pure functions;
// safe from any thread.

#ifndef VERDICT_SERVER_SERVICE_RESULT_TRANSLATION_H_
#define VERDICT_SERVER_SERVICE_RESULT_TRANSLATION_H_

#include "server/engine/engine.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::service {

// Sets out's tool, action, resource and context, borrowing from the
// arguments (which must outlive `*out`). Absent messages stay absent rather
// than empty, so conditions can tell, except the tool's annotations: the MCP
// hints a server leaves out take the values MCP defines for them
// (readOnlyHint false, destructiveHint true, idempotentHint false,
// openWorldHint true), so a rule on destructiveHint decides rather than
// errs. When the request names some hints but not all, the merged set is
// built in `annotations_scratch`, which must then outlive `*out` too.
// Subject, actor, grant and time are the caller's: they depend on
// authentication.
void FillEngineRequest(const v1::Tool& tool, std::string_view action,
                       const v1::Resource* resource,
                       const google::protobuf::Struct* context,
                       google::protobuf::Struct* annotations_scratch,
                       engine::Request* out);

// A subject asserted by a trusted caller, as the engine sees it (auth
// "asserted"); borrows from `subject`.
engine::Principal AssertedPrincipal(const v1::Subject& subject);

// Sets decision, reasons, obligations and (with `explain`) trace; leaves the
// other fields of `*response` alone.
void FillResponseFromResult(const engine::Result& result, bool explain,
                            v1::CheckResponse* response);

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_RESULT_TRANSLATION_H_
