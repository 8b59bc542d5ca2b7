// The one diagnostic type of every file Verdict reads: policies,
// verdictd's configuration and policy test suites.
//
// A diagnostic names the file, the 1-based line and column, a short
// snake_case code that tools can match on and a message for people. The
// reader (reader.h) produces yaml, encoding, unknown_key, duplicate_key,
// missing_key, bad_type, invalid_value, empty_list and limit; each format
// adds its own codes (docs/policies.md, docs/configuration.md). Plain data;
// safe from any thread.

#ifndef VERDICT_SERVER_YAML_DIAGNOSTIC_H_
#define VERDICT_SERVER_YAML_DIAGNOSTIC_H_

#include <string>
#include <vector>

namespace verdict::yaml {

struct Diagnostic {
  std::string file;  // as the caller named it
  int line = 0;      // 1-based; 0 when the error is about the whole file
  int column = 0;    // 1-based, in bytes
  std::string code;
  std::string message;
  std::string snippet;  // the offending token (server/common/quote.h), or empty

  // "file:line:col: error[code]: message", or "file: error[code]: message"
  // for the whole file.
  std::string ToString() const;
};

// Orders `diagnostics` by file, line and column; diagnostics at the same
// place keep their order.
void SortDiagnostics(std::vector<Diagnostic>* diagnostics);

}  // namespace verdict::yaml

#endif  // VERDICT_SERVER_YAML_DIAGNOSTIC_H_
