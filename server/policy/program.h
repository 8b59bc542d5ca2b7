// Program: the compiled form of one condition, like RE2's prog.h.
//
// A Program is a tree of small trivially-copyable Nodes stored in one vector
// and linked by indices, plus the pools they refer to: constants, interned
// strings (map keys and string literals), constant string sets for `in`,
// compiled RE2s and variadic operand lists. Variables were resolved at
// compile time into Field loads, so evaluation never looks a name up.
//
// The request fields a listing may not know (tool.arguments, resource.*) load
// as unknowns naming their attribute path. A field selection, constant-key
// index or has() on such a path carries the longer path it reads
// ("tool.arguments.path"), dotted at compile time, so that evaluation never
// formats text to report what an unknown result depends on.
//
// Promises: immutable once built by CompileCondition; the tree is no taller
// than the parsed expression, at most kMaxConditionDepth, so the recursive
// interpreter has a bounded stack; every view a Value or Node
// takes into the pools stays valid when the Program is moved, because pooled
// objects live behind unique_ptr.
//
// Movable, not copyable. Safe to read from any number of threads.

#ifndef VERDICT_SERVER_POLICY_PROGRAM_H_
#define VERDICT_SERVER_POLICY_PROGRAM_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "re2/re2.h"
#include "server/model/value.h"

namespace verdict::policy {

// The request fields a condition can load; see model::Request.
enum class Field : uint8_t {
  kSubjectId,
  kSubjectRoles,
  kSubjectScopes,
  kSubjectAttributes,
  kSubjectTrustDomain,
  kSubjectAuth,
  kActorId,  // actor fields are errors (has() false) without delegation
  kActorRoles,
  kActorScopes,
  kActorAttributes,
  kActorTrustDomain,
  kActorAuth,
  kDelegationDepth,
  kDelegationChain,
  kToolServer,
  kToolName,
  kToolArguments,  // unknown when Request::arguments_unknown
  kToolAnnotations,
  kAction,
  // Resource fields are errors unless resource.present, unknown when the
  // request has no resource and resource_unknown.
  kResourceKind,
  kResourceId,
  kResourceAttributes,
  kContext,
  kGrantId,  // grant fields are errors unless grant.present
  kGrantTask,
  kGrantEnvironment,
  kGrantScope,
  kGrantExpiresAt,
  kNow,
};

enum class Op : uint8_t {
  kConst,         // constant(a)
  kLoad,          // request field Field(a)
  kLocal,         // comprehension variable in slot a
  kSelect,        // map a, key string(b); missing key is an error; path c
  kIndex,         // list a at int b, or map a at key b; path c
  kHas,           // map a has key string(b); false if a is an error; path c
  kHasField,      // request field Field(a) is present and not empty
  kNot,           // !a
  kNeg,           // -a
  kAnd,           // operands [a, a+b) joined by &&, errors absorbed like CEL
  kOr,            // operands [a, a+b) joined by ||, errors absorbed like CEL
  kCond,          // a ? b : c
  kEq,            // a == b (different kinds: false)
  kNe,            // a != b
  kLt,            // a < b
  kLe,            // a <= b
  kGt,            // a > b
  kGe,            // a >= b
  kAdd,           // a + b: numbers, strings, lists
  kSub,           // a - b
  kMul,           // a * b
  kDiv,           // a / b
  kMod,           // a % b (ints)
  kIn,            // a in list or map b
  kInSet,         // string a in string_set(b)
  kList,          // list of operands [a, a+b), built in the EvalScratch
  kSize,          // size(a): code points, list elements, map entries
  kStartsWith,    // a.startsWith(b)
  kEndsWith,      // a.endsWith(b)
  kContains,      // a.contains(b)
  kMatches,       // a.matches(regex(b)), RE2 partial match
  kExists,        // a.exists(slot b, predicate c)
  kAll,           // a.all(slot b, predicate c)
  kExistsOne,     // a.exists_one(slot b, predicate c)
  kToInt,         // int(a)
  kToDouble,      // double(a)
  kToString,      // string(a)
  kGetHours,      // a.getHours(), UTC
  kGetMinutes,    // a.getMinutes(), UTC
  kGetDayOfWeek,  // a.getDayOfWeek(), UTC, Sunday = 0
};

// Operands a, b, c as the Op says. For kSelect, kIndex and kHas, c is the
// attribute path the node reads, as 1 + its index in the string pool, when
// its map is one a request may leave unknown (tool.arguments,
// tool.arguments.a, resource.attributes) and its key a constant string;
// otherwise 0 and an unknown map gives its own path (a dynamic key).
struct Node {
  Op op = Op::kConst;
  uint32_t a = 0;
  uint32_t b = 0;
  uint32_t c = 0;
};
static_assert(std::is_trivially_copyable_v<Node>);

class Program {
 public:
  Program() = default;
  Program(Program&&) = default;
  Program& operator=(Program&&) = default;
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  // True when the condition reads `now`: its result depends on the clock.
  bool uses_now() const { return uses_now_; }
  // Set when the condition folds to a constant boolean.
  std::optional<bool> constant_value() const { return constant_value_; }

  // For the interpreter.
  uint32_t root() const { return root_; }
  const Node& node(uint32_t i) const { return nodes_[i]; }
  size_t node_count() const { return nodes_.size(); }
  uint32_t operand(uint32_t i) const { return operands_[i]; }
  const model::Value& constant(uint32_t i) const { return constants_[i]; }
  std::string_view string(uint32_t i) const { return *strings_[i]; }
  // The path of a kSelect, kIndex or kHas node; empty when it has none.
  std::string_view path(const Node& n) const {
    return n.c == 0 ? std::string_view() : *strings_[n.c - 1];
  }
  const RE2& regex(uint32_t i) const { return *regexes_[i]; }
  const absl::flat_hash_set<std::string>& string_set(uint32_t i) const {
    return *sets_[i];
  }
  uint32_t local_count() const { return local_count_; }

 private:
  friend class ProgramBuilder;

  bool uses_now_ = false;
  std::optional<bool> constant_value_;
  uint32_t root_ = 0;
  uint32_t local_count_ = 0;
  std::vector<Node> nodes_;
  std::vector<uint32_t> operands_;
  std::vector<model::Value> constants_;
  std::vector<std::unique_ptr<std::string>> strings_;
  std::vector<std::unique_ptr<std::vector<model::Value>>> arrays_;
  std::vector<std::unique_ptr<model::ValueMap>> maps_;
  std::vector<std::unique_ptr<absl::flat_hash_set<std::string>>> sets_;
  std::vector<std::unique_ptr<RE2>> regexes_;
};

}  // namespace verdict::policy

#endif  // VERDICT_SERVER_POLICY_PROGRAM_H_
