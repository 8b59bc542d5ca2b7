// Scope rules: ValidateScope refuses what a grant may not name (and says
// which item), ScopeAllows matches exactly, ValidateTask bounds the task, and
// NewGrantId makes distinct 128-bit base64url ids.

#include "server/grants/grant.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/authn/base64url.h"
#include "server/model/request.h"

namespace verdict::grants {
namespace {

using ::verdict::model::kMaxNameBytes;

using ::testing::HasSubstr;

ScopeItem Item(std::string server, std::string tool, std::string action = "",
               std::string resource = "") {
  return ScopeItem{std::move(server), std::move(tool), std::move(action),
                   std::move(resource)};
}

TEST(ValidateScopeTest, AcceptsExactItems) {
  EXPECT_TRUE(ValidateScope({Item("crm", "search")}).ok());
  EXPECT_TRUE(ValidateScope({Item("crm", "search", "tools/call"),
                             Item("crm", "export", "", "dataset:crm/contacts"),
                             Item("kb", "get", "resources/read", "doc:a:b")})
                  .ok());
  EXPECT_TRUE(ValidateScope(
                  std::vector<ScopeItem>(kMaxScopeItems, Item("crm", "search")))
                  .ok());
  EXPECT_TRUE(ValidateScope({Item(std::string(kMaxNameBytes, 's'), "t")}).ok());
}

TEST(ValidateScopeTest, RefusesAndNamesTheBadItem) {
  struct Case {
    ScopeItem item;
    const char* problem;
  };
  const std::string too_long(kMaxNameBytes + 1, 'x');
  const std::vector<Case> cases = {
      {Item("", "search"), "tool_server is empty"},
      {Item("crm", ""), "tool_name is empty"},
      {Item(too_long, "search"), "tool_server is longer than 256"},
      {Item("crm", too_long), "tool_name is longer"},
      {Item("crm", "search", too_long), "action is longer"},
      {Item("crm", "search", "", "k:" + too_long), "resource is longer"},
      {Item("crm*", "search"), "tool_server contains a glob"},
      {Item("crm", "get_*"), "tool_name contains a glob"},
      {Item("crm", "get?"), "tool_name contains a glob"},
      {Item("crm", "get[ab]"), "tool_name contains a glob"},
      {Item("crm", "search", "tools/*"), "action contains a glob"},
      {Item("crm", "search", "", "dataset:crm/*"), "resource contains a glob"},
      {Item("crm", "search", "", "dataset"), "resource is not \"kind:id\""},
      {Item("crm", "search", "", ":id"), "resource is not"},
      {Item("crm", "search", "", "dataset:"), "resource is not"},
  };
  for (const Case& c : cases) {
    // The bad item is the second, so the index in the message is checked.
    const absl::Status status = ValidateScope({Item("crm", "ok"), c.item});
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.problem;
    EXPECT_THAT(std::string(status.message()), HasSubstr("scope item 1: "));
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.problem));
  }
}

TEST(ValidateScopeTest, RefusesEmptyAndOversizedScopes) {
  EXPECT_THAT(std::string(ValidateScope({}).message()), HasSubstr("empty"));
  const absl::Status status = ValidateScope(
      std::vector<ScopeItem>(kMaxScopeItems + 1, Item("crm", "search")));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("at most 64"));
}

TEST(ScopeAllowsTest, MatchesExactlyOneItem) {
  const std::vector<ScopeItem> scope = {
      Item("crm", "search_contacts"),
      Item("crm", "list", "tools/list"),
      Item("crm", "export", "tools/call", "dataset:crm/contacts"),
      Item("kb", "read", "resources/read", "doc:urn:x:1"),
  };
  struct Case {
    const char* server;
    const char* tool;
    const char* action;
    const char* kind;
    const char* id;
    bool allowed;
  };
  const Case cases[] = {
      // An empty item action is tools/call, and only tools/call.
      {"crm", "search_contacts", "tools/call", "", "", true},
      {"crm", "search_contacts", "tools/list", "", "", false},
      {"crm", "search_contacts", "", "", "", false},
      // Names are exact and case-sensitive; globs in a request are literal.
      {"crm", "search_contact", "tools/call", "", "", false},
      {"crm", "Search_contacts", "tools/call", "", "", false},
      {"CRM", "search_contacts", "tools/call", "", "", false},
      {"crm", "search_*", "tools/call", "", "", false},
      {"kb", "search_contacts", "tools/call", "", "", false},
      {"crm", "list", "tools/list", "", "", true},
      {"crm", "list", "tools/call", "", "", false},
      // An item without a resource matches only requests without one.
      {"crm", "search_contacts", "tools/call", "dataset", "crm/contacts",
       false},
      {"crm", "search_contacts", "tools/call", "", "x", false},
      // An item with a resource matches only that kind and id.
      {"crm", "export", "tools/call", "dataset", "crm/contacts", true},
      {"crm", "export", "tools/call", "", "", false},
      {"crm", "export", "tools/call", "dataset", "crm/leads", false},
      {"crm", "export", "tools/call", "table", "crm/contacts", false},
      {"crm", "export", "tools/call", "dataset:crm", "contacts", false},
      // The kind ends at the item's first ':'; ids may hold ':'.
      {"kb", "read", "resources/read", "doc", "urn:x:1", true},
      {"kb", "read", "resources/read", "doc:urn", "x:1", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ScopeAllows(scope, c.server, c.tool, c.action, c.kind, c.id),
              c.allowed)
        << c.server << " " << c.tool << " " << c.action << " " << c.kind << ":"
        << c.id;
  }
  EXPECT_FALSE(ScopeAllows({}, "crm", "search_contacts", "tools/call", "", ""));
}

TEST(ValidateTaskTest, BoundsEveryField) {
  EXPECT_TRUE(ValidateTask(Task{"t1", "", ""}).ok());
  EXPECT_TRUE(ValidateTask(Task{std::string(kMaxNameBytes, 't'),
                                std::string(kMaxPurposeBytes, 'p'),
                                std::string(kMaxNameBytes, 'e')})
                  .ok());
  EXPECT_THAT(std::string(ValidateTask(Task{"", "p", "prod"}).message()),
              HasSubstr("task id is empty"));
  EXPECT_FALSE(
      ValidateTask(Task{std::string(kMaxNameBytes + 1, 't'), "", ""}).ok());
  EXPECT_FALSE(
      ValidateTask(Task{"t", std::string(kMaxPurposeBytes + 1, 'p'), ""}).ok());
  EXPECT_FALSE(
      ValidateTask(Task{"t", "", std::string(kMaxNameBytes + 1, 'e')}).ok());
}

TEST(NewGrantIdTest, IsDistinct128BitBase64Url) {
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<std::string> id = NewGrantId();
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(id->size(), 22u);
    const std::optional<std::string> bytes = authn::Base64UrlDecode(*id);
    ASSERT_TRUE(bytes.has_value());
    EXPECT_EQ(bytes->size(), 16u);
    EXPECT_TRUE(seen.insert(*id).second);
  }
}

}  // namespace
}  // namespace verdict::grants
