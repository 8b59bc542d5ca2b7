#include "server/policy/cel/parser.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "server/policy/cel/strings.h"
#include "server/policy/condition.h"

namespace verdict::policy::cel {
namespace {

class Parser {
 public:
  Parser(std::string_view text, const std::vector<Token>& tokens, Ast* ast,
         ParseError* error)
      : text_(text), tokens_(tokens), ast_(ast), error_(error) {}

  bool Run() {
    const int root = ParseExpr();
    if (failed_) return false;
    if (Peek().kind != Tok::kEnd) {
      Fail(Peek().offset, "syntax",
           Cat("expected end of input but found ", Describe(Peek())));
      return false;
    }
    ast_->root = root;
    return true;
  }

 private:
  // Counts recursion through ParseExpr, which every nested construct goes
  // through, so the native stack stays bounded.
  class DepthGuard {
   public:
    explicit DepthGuard(Parser* p) : p_(p) { ++p_->depth_; }
    ~DepthGuard() { --p_->depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    Parser* p_;
  };

  const Token& Peek() const { return tokens_[pos_]; }
  const Token& Next() {
    const Token& t = tokens_[pos_];
    if (t.kind != Tok::kEnd) ++pos_;
    return t;
  }
  bool Accept(Tok kind) {
    if (Peek().kind != kind) return false;
    Next();
    return true;
  }
  std::string Describe(const Token& t) const { return cel::Describe(t, text_); }

  void Fail(uint32_t offset, std::string code, std::string message) {
    if (failed_) return;
    failed_ = true;
    error_->offset = offset;
    error_->code = std::move(code);
    error_->message = std::move(message);
  }

  bool Expect(Tok kind, std::string_view what) {
    if (Accept(kind)) return true;
    Fail(Peek().offset, "syntax",
         Cat("expected ", what, " but found ", Describe(Peek())));
    return false;
  }

  // Adds a node over `args`, enforcing the height and node budgets.
  int Add(Expr e) {
    if (failed_) return -1;
    uint32_t height = 1;
    e.start = e.offset;
    for (int a : e.args) {
      height = std::max(height, ast_->nodes[a].height + 1);
      e.start = std::min(e.start, ast_->nodes[a].start);
    }
    e.height = height;
    if (height > static_cast<uint32_t>(kMaxConditionDepth)) {
      Fail(e.offset, "limit",
           Cat("condition nests deeper than ", kMaxConditionDepth, " levels"));
      return -1;
    }
    if (ast_->nodes.size() >= static_cast<size_t>(kMaxAstNodes)) {
      Fail(e.offset, "limit",
           Cat("condition has more than ", kMaxAstNodes, " nodes"));
      return -1;
    }
    ast_->nodes.push_back(std::move(e));
    return static_cast<int>(ast_->nodes.size() - 1);
  }

  static Expr Make(ExprKind kind, uint32_t offset, std::vector<int> args = {}) {
    Expr e;
    e.kind = kind;
    e.offset = offset;
    e.args = std::move(args);
    return e;
  }

  int ParseExpr() {
    DepthGuard guard(this);
    if (depth_ > kMaxConditionDepth) {
      Fail(Peek().offset, "limit",
           Cat("condition nests deeper than ", kMaxConditionDepth, " levels"));
      return -1;
    }
    const int cond = ParseOr();
    if (failed_ || Peek().kind != Tok::kQuestion) return cond;
    const uint32_t offset = Next().offset;
    const int then = ParseOr();
    if (failed_ || !Expect(Tok::kColon, "':'")) return -1;
    const int otherwise = ParseExpr();
    if (failed_) return -1;
    return Add(Make(ExprKind::kCond, offset, {cond, then, otherwise}));
  }

  // Parses `sub` operands joined by `op` into one n-ary node of `kind`, so
  // long chains of || and && stay flat.
  template <typename Sub>
  int ParseChain(Tok op, ExprKind kind, Sub sub) {
    const int first = (this->*sub)();
    if (failed_ || Peek().kind != op) return first;
    Expr e = Make(kind, Peek().offset, {first});
    while (Accept(op)) {
      const int next = (this->*sub)();
      if (failed_) return -1;
      e.args.push_back(next);
    }
    return Add(std::move(e));
  }

  int ParseOr() {
    return ParseChain(Tok::kOr, ExprKind::kOr, &Parser::ParseAnd);
  }
  int ParseAnd() {
    return ParseChain(Tok::kAnd, ExprKind::kAnd, &Parser::ParseRelation);
  }

  static bool IsRelation(Tok t) {
    return t == Tok::kEq || t == Tok::kNe || t == Tok::kLt || t == Tok::kLe ||
           t == Tok::kGt || t == Tok::kGe || t == Tok::kIn;
  }

  int ParseBinaryLevel(int (Parser::*sub)(), bool (*is_op)(Tok)) {
    int left = (this->*sub)();
    while (!failed_ && is_op(Peek().kind)) {
      const Token& op = Next();
      const int right = (this->*sub)();
      if (failed_) return -1;
      Expr e = Make(ExprKind::kBinary, op.offset, {left, right});
      e.op = op.kind;
      left = Add(std::move(e));
    }
    return failed_ ? -1 : left;
  }

  int ParseRelation() {
    return ParseBinaryLevel(&Parser::ParseAdditive, &Parser::IsRelation);
  }
  int ParseAdditive() {
    return ParseBinaryLevel(&Parser::ParseMultiplicative, [](Tok t) {
      return t == Tok::kPlus || t == Tok::kMinus;
    });
  }
  int ParseMultiplicative() {
    return ParseBinaryLevel(&Parser::ParseUnary, [](Tok t) {
      return t == Tok::kStar || t == Tok::kSlash || t == Tok::kPercent;
    });
  }

  int ParseUnary() {
    std::vector<const Token*> ops;
    while (Peek().kind == Tok::kNot || Peek().kind == Tok::kMinus) {
      ops.push_back(&Next());
    }
    // A minus right before an integer literal folds into it, which is the
    // only way to write INT64_MIN.
    if (!ops.empty() && ops.back()->kind == Tok::kMinus &&
        Peek().kind == Tok::kInt) {
      const Token& lit = Next();
      if (lit.int_overflow || lit.uint_value > (uint64_t{1} << 63)) {
        Fail(lit.offset, "syntax", "integer literal out of range");
        return -1;
      }
      Expr e = Make(ExprKind::kInt, ops.back()->offset);
      e.int_value = static_cast<int64_t>(0 - lit.uint_value);
      ops.pop_back();
      int operand = ParsePostfix(Add(std::move(e)));
      return ApplyUnary(ops, operand);
    }
    const int operand = ParsePostfix(ParsePrimary());
    return ApplyUnary(ops, operand);
  }

  int ApplyUnary(const std::vector<const Token*>& ops, int operand) {
    for (auto it = ops.rbegin(); it != ops.rend() && !failed_; ++it) {
      Expr e = Make(ExprKind::kUnary, (*it)->offset, {operand});
      e.op = (*it)->kind;
      operand = Add(std::move(e));
    }
    return failed_ ? -1 : operand;
  }

  // Parses comma-separated expressions up to `close`.
  bool ParseList(Tok close, std::string_view close_text,
                 std::vector<int>* out) {
    if (Accept(close)) return true;
    while (true) {
      const int e = ParseExpr();
      if (failed_) return false;
      out->push_back(e);
      if (Accept(Tok::kComma)) {
        if (Accept(close)) return true;  // trailing comma
        continue;
      }
      return Expect(close, Cat("',' or ", close_text));
    }
  }

  int ParsePostfix(int operand) {
    while (!failed_) {
      if (Peek().kind == Tok::kDot) {
        Next();
        const Token& name = Peek();
        if (name.kind != Tok::kIdent) {
          Fail(name.offset, "syntax",
               Cat("expected a field name after '.' but found ",
                   Describe(name)));
          return -1;
        }
        Next();
        if (Accept(Tok::kLParen)) {
          Expr e = Make(ExprKind::kCall, name.offset, {operand});
          e.text = name.text;
          e.has_target = true;
          if (!ParseList(Tok::kRParen, "')'", &e.args)) return -1;
          operand = Add(std::move(e));
        } else {
          Expr e = Make(ExprKind::kSelect, name.offset, {operand});
          e.text = name.text;
          operand = Add(std::move(e));
        }
      } else if (Peek().kind == Tok::kLBracket) {
        const uint32_t offset = Next().offset;
        const int index = ParseExpr();
        if (failed_ || !Expect(Tok::kRBracket, "']'")) return -1;
        operand = Add(Make(ExprKind::kIndex, offset, {operand, index}));
      } else {
        break;
      }
    }
    return failed_ ? -1 : operand;
  }

  int ParsePrimary() {
    if (failed_) return -1;
    const Token& t = Next();
    switch (t.kind) {
      case Tok::kInt: {
        if (t.int_overflow || t.uint_value > uint64_t{INT64_MAX}) {
          Fail(t.offset, "syntax", "integer literal out of range");
          return -1;
        }
        Expr e = Make(ExprKind::kInt, t.offset);
        e.int_value = static_cast<int64_t>(t.uint_value);
        return Add(std::move(e));
      }
      case Tok::kDouble: {
        Expr e = Make(ExprKind::kDouble, t.offset);
        e.double_value = t.double_value;
        return Add(std::move(e));
      }
      case Tok::kString: {
        Expr e = Make(ExprKind::kString, t.offset);
        e.text = t.text;
        return Add(std::move(e));
      }
      case Tok::kTrue:
      case Tok::kFalse: {
        Expr e = Make(ExprKind::kBool, t.offset);
        e.bool_value = t.kind == Tok::kTrue;
        return Add(std::move(e));
      }
      case Tok::kNull:
        return Add(Make(ExprKind::kNull, t.offset));
      case Tok::kIdent: {
        if (Accept(Tok::kLParen)) {
          Expr e = Make(ExprKind::kCall, t.offset);
          e.text = t.text;
          if (!ParseList(Tok::kRParen, "')'", &e.args)) return -1;
          return Add(std::move(e));
        }
        Expr e = Make(ExprKind::kIdent, t.offset);
        e.text = t.text;
        return Add(std::move(e));
      }
      case Tok::kLParen: {
        const int inner = ParseExpr();
        if (failed_ || !Expect(Tok::kRParen, "')'")) return -1;
        return inner;
      }
      case Tok::kLBracket: {
        Expr e = Make(ExprKind::kList, t.offset);
        if (!ParseList(Tok::kRBracket, "']'", &e.args)) return -1;
        return Add(std::move(e));
      }
      case Tok::kLBrace: {
        Expr e = Make(ExprKind::kMap, t.offset);
        if (Accept(Tok::kRBrace)) return Add(std::move(e));
        while (true) {
          const int key = ParseExpr();
          if (failed_ || !Expect(Tok::kColon, "':'")) return -1;
          const int value = ParseExpr();
          if (failed_) return -1;
          e.args.push_back(key);
          e.args.push_back(value);
          if (Accept(Tok::kComma)) {
            if (Accept(Tok::kRBrace)) break;
            continue;
          }
          if (!Expect(Tok::kRBrace, "',' or '}'")) return -1;
          break;
        }
        return Add(std::move(e));
      }
      default:
        Fail(t.offset, "syntax",
             Cat("expected an expression but found ", Describe(t)));
        return -1;
    }
  }

  std::string_view text_;
  const std::vector<Token>& tokens_;
  Ast* ast_;
  ParseError* error_;
  size_t pos_ = 0;
  int depth_ = 0;
  bool failed_ = false;
};

}  // namespace

bool Parse(std::string_view text, const std::vector<Token>& tokens, Ast* ast,
           ParseError* error) {
  return Parser(text, tokens, ast, error).Run();
}

}  // namespace verdict::policy::cel
