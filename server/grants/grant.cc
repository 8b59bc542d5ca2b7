#include "server/grants/grant.h"

#include <openssl/err.h>
#include <openssl/rand.h>

#include "absl/strings/str_cat.h"
#include "server/authn/base64url.h"
#include "server/model/request.h"

namespace verdict::grants {
namespace {

using ::verdict::model::kMaxNameBytes;

constexpr size_t kGrantIdBytes = 16;

absl::string_view Piece(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

// Why `value` cannot be the `field` of a scope item, or "" when it can.
std::string ScopeStringProblem(std::string_view field, std::string_view value,
                               bool required) {
  if (required && value.empty()) return absl::StrCat(Piece(field), " is empty");
  if (value.size() > kMaxNameBytes) {
    return absl::StrCat(Piece(field), " is longer than ", kMaxNameBytes,
                        " bytes");
  }
  if (value.find_first_of("*?[") != std::string_view::npos) {
    return absl::StrCat(Piece(field),
                        " contains a glob character: grants name exact things");
  }
  return "";
}

std::string ScopeItemProblem(const ScopeItem& item) {
  std::string problem = ScopeStringProblem("tool_server", item.tool_server,
                                           /*required=*/true);
  if (problem.empty()) {
    problem = ScopeStringProblem("tool_name", item.tool_name, true);
  }
  if (problem.empty())
    problem = ScopeStringProblem("action", item.action, false);
  if (problem.empty()) {
    problem = ScopeStringProblem("resource", item.resource, false);
  }
  if (problem.empty() && !item.resource.empty()) {
    const size_t colon = item.resource.find(':');
    if (colon == std::string::npos || colon == 0 ||
        colon + 1 == item.resource.size()) {
      problem = "resource is not \"kind:id\"";
    }
  }
  return problem;
}

bool ItemAllows(const ScopeItem& item, std::string_view tool_server,
                std::string_view tool_name, std::string_view action,
                std::string_view resource_kind, std::string_view resource_id) {
  if (item.tool_server != tool_server || item.tool_name != tool_name) {
    return false;
  }
  const std::string_view item_action =
      item.action.empty() ? kDefaultAction : std::string_view(item.action);
  if (item_action != action) return false;
  if (item.resource.empty()) {
    return resource_kind.empty() && resource_id.empty();
  }
  const std::string_view resource = item.resource;
  const size_t colon = resource.find(':');
  return colon != std::string_view::npos &&
         resource.substr(0, colon) == resource_kind &&
         resource.substr(colon + 1) == resource_id;
}

}  // namespace

absl::Status ValidateScope(const std::vector<ScopeItem>& items) {
  if (items.empty()) return absl::InvalidArgumentError("scope is empty");
  if (items.size() > kMaxScopeItems) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scope has ", items.size(), " items; at most ", kMaxScopeItems));
  }
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string problem = ScopeItemProblem(items[i]);
    if (!problem.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("scope item ", i, ": ", problem));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTask(const Task& task) {
  if (task.id.empty()) return absl::InvalidArgumentError("task id is empty");
  if (task.id.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("task id is longer than ", kMaxNameBytes, " bytes"));
  }
  if (task.environment.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "task environment is longer than ", kMaxNameBytes, " bytes"));
  }
  if (task.purpose.size() > kMaxPurposeBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "task purpose is longer than ", kMaxPurposeBytes, " bytes"));
  }
  return absl::OkStatus();
}

bool ScopeAllows(const std::vector<ScopeItem>& items,
                 std::string_view tool_server, std::string_view tool_name,
                 std::string_view action, std::string_view resource_kind,
                 std::string_view resource_id) {
  for (const ScopeItem& item : items) {
    if (ItemAllows(item, tool_server, tool_name, action, resource_kind,
                   resource_id)) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<std::string> NewGrantId() {
  unsigned char bytes[kGrantIdBytes];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    ERR_clear_error();
    return absl::InternalError("no randomness for a grant id");
  }
  return authn::Base64UrlEncode(
      std::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

}  // namespace verdict::grants
