// The policy AST: what the loader reads from one YAML document (spec section
// 4), before globs and conditions are compiled. Every value keeps the 1-based
// line and column of its source so that later stages can report errors at
// the exact place in the file.
//
// Plain data; no behaviour beyond position mapping.

#ifndef VERDICT_SERVER_POLICY_POLICY_AST_H_
#define VERDICT_SERVER_POLICY_POLICY_AST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "server/policy/policy_set.h"

namespace verdict::policy {

struct AstPosition {
  int line = 0;    // 1-based
  int column = 0;  // 1-based, in bytes
};

struct AstString {
  std::string text;
  AstPosition position;
};

using AstList = std::optional<std::vector<AstString>>;  // absent: any

// A `when` condition and what is needed to map positions inside its text
// back to the file.
struct AstCondition {
  std::string text;
  AstPosition position;  // where the scalar starts
  // For single-line plain and quoted scalars: the file column of every byte
  // of `text`, plus one past the end. Empty when the scalar spans lines.
  std::vector<int> columns;
  // For literal block scalars (`|`): the file line of the text's first line
  // and the block's indentation; line k of the text is file line
  // block_first_line + k - 1, shifted right by block_indent.
  int block_first_line = 0;
  int block_indent = 0;

  // Maps a 1-based (line, column) inside `text` to the file; positions that
  // cannot be mapped exactly point at the scalar's start.
  AstPosition MapToFile(int line, int column) const;
};

// An allow rule's `limit` (docs/policies.md); `per` holds its key
// expressions, each with its own position mapping, as `when` has.
struct AstLimit {
  AstPosition position;  // the `limit` key
  int64_t calls = 0;
  absl::Duration window;
  std::vector<AstCondition> per;
};

struct AstRule {
  AstPosition position;  // the rule's mapping
  AstString id;
  Effect effect = Effect::kDeny;
  AstString description;
  AstList servers;
  AstList tools;
  AstList actions;
  AstList resources;
  AstList subjects;
  AstList roles;
  std::optional<AstCondition> when;
  AstString reason;
  google::protobuf::Struct obligations;
  AstList scopes;                 // allow rules only; absent: none needed
  std::optional<AstLimit> limit;  // allow rules only; absent: unlimited
};

struct AstPolicy {
  AstPosition position;  // the document's mapping
  AstString name;
  AstString description;
  AstList subjects;
  AstList roles;
  std::vector<AstRule> rules;
};

}  // namespace verdict::policy

#endif  // VERDICT_SERVER_POLICY_POLICY_AST_H_
