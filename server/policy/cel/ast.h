// The condition language's expression tree, as the parser builds it.
//
// Nodes live in one vector and refer to each other by index, so a tree of
// any shape is destroyed without recursion. Every node records the byte
// offset of the token that names it (the operator, the field, the function)
// and of its first token, for error positions, and its height, which the parser
// caps at kMaxConditionDepth.
//
// Plain data; not thread-safe to mutate, safe to read from any thread.

#ifndef VERDICT_SERVER_POLICY_CEL_AST_H_
#define VERDICT_SERVER_POLICY_CEL_AST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "server/policy/cel/lexer.h"

namespace verdict::policy::cel {

enum class ExprKind : uint8_t {
  kNull,
  kBool,    // bool_value
  kInt,     // int_value
  kDouble,  // double_value
  kString,  // text
  kIdent,   // text: the name
  kSelect,  // args[0].text
  kIndex,   // args[0][args[1]]
  kCall,    // text(args...), or args[0].text(args[1]...) when has_target
  kList,    // [args...]
  kMap,     // {args[0]: args[1], args[2]: args[3], ...}
  kUnary,   // op args[0]: kNot or kMinus
  kBinary,  // args[0] op args[1]
  kAnd,     // args[0] && args[1] && ...
  kOr,      // args[0] || args[1] || ...
  kCond,    // args[0] ? args[1] : args[2]
};

struct Expr {
  ExprKind kind = ExprKind::kNull;
  Tok op = Tok::kEnd;       // kUnary, kBinary
  bool has_target = false;  // kCall: a method call on args[0]
  bool bool_value = false;
  uint32_t offset = 0;
  uint32_t start = 0;  // offset of the expression's first token
  uint32_t height = 1;
  int64_t int_value = 0;
  double double_value = 0;
  std::string text;
  std::vector<int> args;
};

struct Ast {
  std::vector<Expr> nodes;
  int root = -1;
};

}  // namespace verdict::policy::cel

#endif  // VERDICT_SERVER_POLICY_CEL_AST_H_
