// Translates an engine::Result into the public CheckResponse: decision,
// reasons with policy and rule, obligations merged from the matched allow
// rules (the first rule wins on a key both set), and the explain trace.
//
// Shared by verdictd's Decider and `verdict test`'s in-process runner, so a
// suite judged in process sees exactly the response verdictd would send.
// Pure function; safe from any thread.

#ifndef VERDICT_SERVER_SERVICE_RESULT_TRANSLATION_H_
#define VERDICT_SERVER_SERVICE_RESULT_TRANSLATION_H_

#include "server/engine/engine.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::service {

// Sets decision, reasons, obligations and (with `explain`) trace; leaves the
// other fields of `*response` alone.
void FillResponseFromResult(const engine::Result& result, bool explain,
                            v1::CheckResponse* response);

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_RESULT_TRANSLATION_H_
