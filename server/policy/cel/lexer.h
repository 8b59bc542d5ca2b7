// Lexer for the condition language: text to a vector of tokens.
//
// Decodes literals as it goes (escapes in strings, hex and decimal numbers)
// so the parser never looks at raw text again. Collects lexical errors with
// their byte offsets and keeps going past a bad token, up to 20 errors.
//
// Pure function; never throws; safe from any thread.

#ifndef VERDICT_SERVER_POLICY_CEL_LEXER_H_
#define VERDICT_SERVER_POLICY_CEL_LEXER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace verdict::policy::cel {

enum class Tok : uint8_t {
  kEnd,
  kInt,  // uint_value holds the magnitude; sign comes from unary minus
  kDouble,
  kString,  // text holds the decoded bytes
  kIdent,   // text holds the name
  kTrue,
  kFalse,
  kNull,
  kIn,
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kLBrace,
  kRBrace,
  kDot,
  kComma,
  kColon,
  kQuestion,
  kNot,
  kMinus,
  kPlus,
  kStar,
  kSlash,
  kPercent,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kAnd,
  kOr,
};

struct Token {
  Tok kind = Tok::kEnd;
  uint32_t offset = 0;  // of the first byte in the condition text
  uint32_t length = 0;  // bytes of source text
  uint64_t uint_value = 0;
  bool int_overflow = false;  // the literal does not fit in 64 bits
  double double_value = 0;
  std::string text;
};

struct LexError {
  uint32_t offset = 0;
  std::string message;
};

// Appends the tokens of `text`, ending with Tok::kEnd, to `*tokens`; appends
// lexical errors to `*errors`.
void Lex(std::string_view text, std::vector<Token>* tokens,
         std::vector<LexError>* errors);

// How a token reads in an error message: "'foo'", "')'", "end of input".
std::string Describe(const Token& token, std::string_view text);

}  // namespace verdict::policy::cel

#endif  // VERDICT_SERVER_POLICY_CEL_LEXER_H_
