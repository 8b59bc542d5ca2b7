#include "server/yaml/diagnostic.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace verdict::yaml {

std::string Diagnostic::ToString() const {
  if (line <= 0) return absl::StrCat(file, ": error[", code, "]: ", message);
  return absl::StrCat(file, ":", line, ":", column, ": error[", code,
                      "]: ", message);
}

void SortDiagnostics(std::vector<Diagnostic>* diagnostics) {
  std::stable_sort(diagnostics->begin(), diagnostics->end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return std::tie(a.file, a.line, a.column) <
                            std::tie(b.file, b.line, b.column);
                   });
}

}  // namespace verdict::yaml
