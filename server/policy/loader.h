// Loader: YAML policy file text -> policy AST (spec section 4).
//
// Declares the document schema to the YAML reader (server/yaml/reader.h),
// which checks the encoding and syntax, required and allowed keys, duplicate
// keys and value types; the loader adds the policy rules: effects, empty lists
// and globs, obligations, scopes and limits only on allow rules, scopes as
// distinct RFC 6749 scope tokens, a limit's calls and window within their
// bounds (policy_set.h). It does not compile globs, conditions or limit keys
// and does not check names across documents; the compiler does.
//
// Every problem becomes a Diagnostic (snippet left empty) and loading goes on,
// so one pass reports as many errors as possible; the returned ASTs are then
// best effort and must not be compiled into a set. Never throws; pure
// function of its input; thread-safe.

#ifndef VERDICT_SERVER_POLICY_LOADER_H_
#define VERDICT_SERVER_POLICY_LOADER_H_

#include <string>
#include <string_view>
#include <vector>

#include "server/policy/compiler.h"
#include "server/policy/policy_ast.h"

namespace verdict::policy {

// Loads every policy document of one file (empty documents are skipped).
// `path` is copied into the diagnostics as the file name.
std::vector<AstPolicy> LoadPolicyFile(std::string_view path,
                                      std::string_view text,
                                      std::vector<Diagnostic>* diagnostics);

// The token of `text` at the 1-based `line` and `column` (the run of
// non-blank characters there, or the next one, up to a flow separator and
// without a key's ':'), bounded and escaped as server/common/quote.h does: what
// a diagnostic shows of the file, never the whole line. Empty when out of
// range.
std::string TokenAt(std::string_view text, int line, int column);

}  // namespace verdict::policy

#endif  // VERDICT_SERVER_POLICY_LOADER_H_
