#include "server/policy/cel/lexer.h"

#include <cerrno>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "server/common/quote.h"
#include "server/policy/cel/strings.h"

namespace verdict::policy::cel {
namespace {

bool IsIdentStart(char c) { return absl::ascii_isalpha(c) || c == '_'; }
bool IsIdentChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

class Lexer {
 public:
  Lexer(std::string_view text, std::vector<Token>* tokens,
        std::vector<LexError>* errors)
      : text_(text), tokens_(tokens), errors_(errors) {}

  void Run() {
    // Past a few errors the rest is noise (random bytes give thousands).
    constexpr size_t kMaxErrors = 20;
    while (errors_->size() < kMaxErrors) {
      SkipSpaceAndComments();
      if (pos_ >= text_.size()) break;
      LexOne();
    }
    Token end;
    end.kind = Tok::kEnd;
    end.offset = static_cast<uint32_t>(text_.size());
    tokens_->push_back(std::move(end));
  }

 private:
  char Peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }

  void Error(size_t offset, std::string message) {
    errors_->push_back({static_cast<uint32_t>(offset), std::move(message)});
  }

  void SkipSpaceAndComments() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
        ++pos_;
      } else if (c == '/' && Peek(1) == '/') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  void Emit(Tok kind, size_t start) {
    Token t;
    t.kind = kind;
    t.offset = static_cast<uint32_t>(start);
    t.length = static_cast<uint32_t>(pos_ - start);
    tokens_->push_back(std::move(t));
  }

  void LexOne() {
    const size_t start = pos_;
    const char c = text_[pos_];
    if ((c == 'r' || c == 'R') && (Peek(1) == '"' || Peek(1) == '\'')) {
      ++pos_;
      LexString(start, /*raw=*/true);
      return;
    }
    if (IsIdentStart(c)) {
      while (pos_ < text_.size() && IsIdentChar(text_[pos_])) ++pos_;
      const std::string_view word = text_.substr(start, pos_ - start);
      if (word == "true") return Emit(Tok::kTrue, start);
      if (word == "false") return Emit(Tok::kFalse, start);
      if (word == "null") return Emit(Tok::kNull, start);
      if (word == "in") return Emit(Tok::kIn, start);
      Emit(Tok::kIdent, start);
      tokens_->back().text = std::string(word);
      return;
    }
    if (absl::ascii_isdigit(c) || (c == '.' && absl::ascii_isdigit(Peek(1)))) {
      LexNumber(start);
      return;
    }
    if (c == '"' || c == '\'') {
      LexString(start, /*raw=*/false);
      return;
    }
    const char n = Peek(1);
    auto two = [&](Tok kind) {
      pos_ += 2;
      Emit(kind, start);
    };
    auto one = [&](Tok kind) {
      pos_ += 1;
      Emit(kind, start);
    };
    switch (c) {
      case '(':
        return one(Tok::kLParen);
      case ')':
        return one(Tok::kRParen);
      case '[':
        return one(Tok::kLBracket);
      case ']':
        return one(Tok::kRBracket);
      case '{':
        return one(Tok::kLBrace);
      case '}':
        return one(Tok::kRBrace);
      case '.':
        return one(Tok::kDot);
      case ',':
        return one(Tok::kComma);
      case ':':
        return one(Tok::kColon);
      case '?':
        return one(Tok::kQuestion);
      case '-':
        return one(Tok::kMinus);
      case '+':
        return one(Tok::kPlus);
      case '*':
        return one(Tok::kStar);
      case '/':
        return one(Tok::kSlash);
      case '%':
        return one(Tok::kPercent);
      case '!':
        return n == '=' ? two(Tok::kNe) : one(Tok::kNot);
      case '<':
        return n == '=' ? two(Tok::kLe) : one(Tok::kLt);
      case '>':
        return n == '=' ? two(Tok::kGe) : one(Tok::kGt);
      case '=':
        if (n == '=') return two(Tok::kEq);
        break;
      case '&':
        if (n == '&') return two(Tok::kAnd);
        break;
      case '|':
        if (n == '|') return two(Tok::kOr);
        break;
      default:
        break;
    }
    if (absl::ascii_isprint(c)) {
      Error(start, Cat("unexpected character '", text_.substr(start, 1), "'"));
    } else {
      Error(start,
            Cat("unexpected byte 0x",
                absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2)));
    }
    ++pos_;
  }

  void LexNumber(size_t start) {
    if (text_[pos_] == '0' && (Peek(1) == 'x' || Peek(1) == 'X')) {
      pos_ += 2;
      const size_t digits = pos_;
      uint64_t value = 0;
      bool overflow = false;
      while (pos_ < text_.size() && HexDigit(text_[pos_]) >= 0) {
        if (value > (UINT64_MAX >> 4)) overflow = true;
        value = (value << 4) | static_cast<uint64_t>(HexDigit(text_[pos_]));
        ++pos_;
      }
      if (pos_ == digits) {
        Error(start, "hex literal needs at least one digit");
        return;
      }
      if (Peek() == 'u' || Peek() == 'U') ++pos_;
      EmitInt(start, value, overflow);
      return;
    }
    bool is_double = false;
    while (absl::ascii_isdigit(Peek())) ++pos_;
    if (Peek() == '.' && absl::ascii_isdigit(Peek(1))) {
      is_double = true;
      ++pos_;
      while (absl::ascii_isdigit(Peek())) ++pos_;
    }
    if (Peek() == 'e' || Peek() == 'E') {
      size_t p = pos_ + 1;
      if (p < text_.size() && (text_[p] == '+' || text_[p] == '-')) ++p;
      if (p < text_.size() && absl::ascii_isdigit(text_[p])) {
        is_double = true;
        pos_ = p;
        while (absl::ascii_isdigit(Peek())) ++pos_;
      } else {
        Error(pos_, "exponent needs at least one digit");
        ++pos_;
        return;
      }
    }
    const std::string digits(text_.substr(start, pos_ - start));
    if (is_double) {
      Emit(Tok::kDouble, start);
      tokens_->back().double_value = std::strtod(digits.c_str(), nullptr);
      return;
    }
    uint64_t value = 0;
    bool overflow = false;
    for (char d : digits) {
      const uint64_t digit = static_cast<uint64_t>(d - '0');
      if (value > (UINT64_MAX - digit) / 10) overflow = true;
      value = value * 10 + digit;
    }
    if (Peek() == 'u' || Peek() == 'U') ++pos_;
    EmitInt(start, value, overflow);
  }

  void EmitInt(size_t start, uint64_t value, bool overflow) {
    if (IsIdentChar(Peek())) {
      Error(pos_, Cat("unexpected character '", text_.substr(pos_, 1),
                      "' after a number"));
      while (IsIdentChar(Peek())) ++pos_;
      return;
    }
    Emit(Tok::kInt, start);
    tokens_->back().uint_value = value;
    tokens_->back().int_overflow = overflow;
  }

  // pos_ is at the opening quote; `start` includes any raw prefix.
  void LexString(size_t start, bool raw) {
    const char quote = text_[pos_++];
    std::string value;
    bool ok = true;
    while (true) {
      if (pos_ >= text_.size() || text_[pos_] == '\n') {
        Error(start, "unterminated string literal");
        return;
      }
      const char c = text_[pos_];
      if (c == quote) {
        ++pos_;
        break;
      }
      if (c != '\\' || raw) {
        value.push_back(c);
        ++pos_;
        continue;
      }
      ok &= LexEscape(&value);
    }
    if (!ok) return;
    Emit(Tok::kString, start);
    tokens_->back().text = std::move(value);
  }

  // pos_ is at a backslash inside a string; consumes the escape.
  bool LexEscape(std::string* out) {
    const size_t start = pos_;
    ++pos_;
    if (pos_ >= text_.size()) return true;  // reported as unterminated
    const char e = text_[pos_++];
    switch (e) {
      case 'n':
        out->push_back('\n');
        return true;
      case 't':
        out->push_back('\t');
        return true;
      case 'r':
        out->push_back('\r');
        return true;
      case 'a':
        out->push_back('\a');
        return true;
      case 'b':
        out->push_back('\b');
        return true;
      case 'f':
        out->push_back('\f');
        return true;
      case 'v':
        out->push_back('\v');
        return true;
      case '\\':
      case '"':
      case '\'':
      case '`':
      case '?':
        out->push_back(e);
        return true;
      case 'x':
      case 'X':
      case 'u':
      case 'U': {
        const int n = (e == 'x' || e == 'X') ? 2 : (e == 'u' ? 4 : 8);
        uint32_t cp = 0;
        for (int i = 0; i < n; ++i) {
          const int d = HexDigit(Peek());
          if (d < 0) {
            Error(start, Cat("invalid escape sequence '\\", std::string(1, e),
                             "': needs ", n, " hex digits"));
            return false;
          }
          cp = (cp << 4) | static_cast<uint32_t>(d);
          ++pos_;
        }
        if (n == 2) {
          out->push_back(static_cast<char>(cp));
          return true;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
          Error(start, Cat("invalid code point in escape '",
                           text_.substr(start, pos_ - start), "'"));
          return false;
        }
        AppendUtf8(cp, out);
        return true;
      }
      default:
        if (e >= '0' && e <= '3' && Peek() >= '0' && Peek() <= '7' &&
            Peek(1) >= '0' && Peek(1) <= '7') {
          out->push_back(static_cast<char>(
              ((e - '0') << 6) | ((Peek() - '0') << 3) | (Peek(1) - '0')));
          pos_ += 2;
          return true;
        }
        Error(start, Cat("invalid escape sequence '",
                         text_.substr(start, pos_ - start), "'"));
        return false;
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::vector<Token>* tokens_;
  std::vector<LexError>* errors_;
};

}  // namespace

void Lex(std::string_view text, std::vector<Token>* tokens,
         std::vector<LexError>* errors) {
  Lexer(text, tokens, errors).Run();
}

std::string Describe(const Token& token, std::string_view text) {
  if (token.kind == Tok::kEnd) return "end of input";
  // Long literals would swamp the message; their start identifies them.
  return Cat("'", EscapeToken(text.substr(token.offset, token.length), '\0'),
             "'");
}

}  // namespace verdict::policy::cel
