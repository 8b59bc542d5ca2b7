// Parser for the condition language: tokens to an Ast, with CEL precedence
// (lowest first): ?: (right associative), ||, &&, relations
// (== != < <= > >= in), + -, * / %, unary ! -, member/call/index.
//
// Recursive descent whose depth is counted: nesting beyond
// kMaxConditionDepth, a tree taller than that, or more than kMaxAstNodes
// nodes stops the parse with a `limit` error, so hostile input cannot
// exhaust the stack. A syntax error stops the parse too (one error: later
// ones would only echo it).
//
// Pure function; never throws; safe from any thread.

#ifndef VERDICT_SERVER_POLICY_CEL_PARSER_H_
#define VERDICT_SERVER_POLICY_CEL_PARSER_H_

#include <string>
#include <string_view>
#include <vector>

#include "server/policy/cel/ast.h"
#include "server/policy/cel/lexer.h"

namespace verdict::policy::cel {

inline constexpr int kMaxAstNodes = 4096;

struct ParseError {
  uint32_t offset = 0;
  std::string code;  // syntax or limit
  std::string message;
};

// Parses `tokens` (from Lex over `text`, ending with kEnd). Returns false and
// sets `*error` on failure.
bool Parse(std::string_view text, const std::vector<Token>& tokens, Ast* ast,
           ParseError* error);

}  // namespace verdict::policy::cel

#endif  // VERDICT_SERVER_POLICY_CEL_PARSER_H_
