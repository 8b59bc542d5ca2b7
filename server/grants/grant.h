// Grants: the plain types of a task-scoped grant (spec section 8) and the
// rules every scope obeys.
//
// A grant lets one subject do a named task's part of what policy allows it:
// a list of exact (server, tool, action, resource) items. Names in a scope
// are literal, never globs: a grant names exactly what the task needs, and
// ScopeAllows matches exactly. These types carry no protobuf message of the
// API; the gRPC service translates. Pure functions and plain values:
// thread-compatible, and every function here is safe from any thread.

#ifndef VERDICT_SERVER_GRANTS_GRANT_H_
#define VERDICT_SERVER_GRANTS_GRANT_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/model/request.h"

namespace verdict::grants {

inline constexpr size_t kMaxScopeItems = 64;
inline constexpr size_t kMaxPurposeBytes = 1024;

// The action an item with an empty action stands for.
inline constexpr std::string_view kDefaultAction = "tools/call";

// One permission: an action on a tool, optionally on one resource.
struct ScopeItem {
  std::string tool_server;
  std::string tool_name;
  std::string action;    // empty: tools/call
  std::string resource;  // "kind:id"; empty: only requests without a resource

  friend bool operator==(const ScopeItem&, const ScopeItem&) = default;
};

struct Task {
  std::string id;           // required
  std::string purpose;      // free text
  std::string environment;  // e.g. prod, staging

  friend bool operator==(const Task&, const Task&) = default;
};

// Everything a grant token says.
struct GrantClaims {
  std::string id;  // jti, from NewGrantId()
  // The requester, as it was authenticated when the grant was issued.
  std::string subject;
  model::StringList roles;
  model::StringList scopes;
  model::Struct attributes;
  std::string trust_domain;
  std::string auth_method;  // "jwt", "x509" or "asserted"
  Task task;
  std::vector<ScopeItem> scope;
  absl::Time issued_at = absl::InfinitePast();   // also the token's nbf
  absl::Time expires_at = absl::InfinitePast();  // exclusive
};

// OK when `items` is a scope a grant may carry: 1..kMaxScopeItems items, each
// with a non-empty tool_server and tool_name, every string at most
// model::kMaxNameBytes and free of glob characters ('*', '?', '['), and a
// resource that is empty or "kind:id" with both parts non-empty. Otherwise
// InvalidArgument naming the first bad item by its index.
absl::Status ValidateScope(const std::vector<ScopeItem>& items);

// OK when `task` has an id of 1..model::kMaxNameBytes bytes, an environment of
// at most model::kMaxNameBytes and a purpose of at most kMaxPurposeBytes;
// otherwise InvalidArgument saying which.
absl::Status ValidateTask(const Task& task);

// True when one item of `items` is exactly this request. An item's empty
// action means tools/call. A request has no resource when `resource_kind` and
// `resource_id` are both empty; an item without a resource matches only such
// a request, and an item "kind:id" only that kind and id (the kind ends at the
// item's first ':', so ids may contain ':').
bool ScopeAllows(const std::vector<ScopeItem>& items,
                 std::string_view tool_server, std::string_view tool_name,
                 std::string_view action, std::string_view resource_kind,
                 std::string_view resource_id);

// A fresh grant id: 128 bits from OpenSSL's CSPRNG, base64url (22
// characters). Fails (Internal) rather than return a guessable id.
absl::StatusOr<std::string> NewGrantId();

}  // namespace verdict::grants

#endif  // VERDICT_SERVER_GRANTS_GRANT_H_
