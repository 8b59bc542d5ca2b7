// CompileCondition: lexes, parses, then checks the Ast against the request
// schema and emits a Program in one walk (the walk recurses over the Ast,
// whose height the parser capped).

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "re2/re2.h"
#include "server/common/quote.h"
#include "server/common/utf8.h"
#include "server/model/value.h"
#include "server/policy/cel/ast.h"
#include "server/policy/cel/lexer.h"
#include "server/policy/cel/parser.h"
#include "server/policy/cel/strings.h"
#include "server/policy/condition.h"
#include "server/policy/program.h"

namespace verdict::policy {

using model::Kind;
using model::Value;

// The only writer of a Program's internals.
class ProgramBuilder {
 public:
  explicit ProgramBuilder(Program* program) : p_(program) {}

  uint32_t AddNode(Op op, uint32_t a = 0, uint32_t b = 0, uint32_t c = 0) {
    p_->nodes_.push_back(Node{op, a, b, c});
    return static_cast<uint32_t>(p_->nodes_.size() - 1);
  }
  const Node& node(uint32_t i) const { return p_->nodes_[i]; }

  uint32_t AddConst(const Value& v) {
    p_->constants_.push_back(v);
    return AddNode(Op::kConst,
                   static_cast<uint32_t>(p_->constants_.size() - 1));
  }
  // The constant a kConst node holds, if `node_index` is one.
  const Value* ConstOf(uint32_t node_index) const {
    const Node& n = p_->nodes_[node_index];
    return n.op == Op::kConst ? &p_->constants_[n.a] : nullptr;
  }

  std::string_view string(uint32_t i) const { return *p_->strings_[i]; }
  uint32_t Intern(std::string_view s) {
    auto [it, inserted] = interned_.try_emplace(
        std::string(s), static_cast<uint32_t>(p_->strings_.size()));
    if (inserted) p_->strings_.push_back(std::make_unique<std::string>(s));
    return it->second;
  }
  std::string_view InternView(std::string_view s) {
    return *p_->strings_[Intern(s)];
  }

  const Value* AddArray(std::vector<Value> values) {
    p_->arrays_.push_back(
        std::make_unique<std::vector<Value>>(std::move(values)));
    return p_->arrays_.back()->data();
  }
  const model::ValueMap* AddMap(model::ValueMap map) {
    p_->maps_.push_back(std::make_unique<model::ValueMap>(std::move(map)));
    return p_->maps_.back().get();
  }
  uint32_t AddSet(absl::flat_hash_set<std::string> set) {
    p_->sets_.push_back(
        std::make_unique<absl::flat_hash_set<std::string>>(std::move(set)));
    return static_cast<uint32_t>(p_->sets_.size() - 1);
  }
  uint32_t AddRegex(std::unique_ptr<RE2> re) {
    p_->regexes_.push_back(std::move(re));
    return static_cast<uint32_t>(p_->regexes_.size() - 1);
  }
  uint32_t AddOperands(const std::vector<uint32_t>& operands) {
    const auto begin = static_cast<uint32_t>(p_->operands_.size());
    p_->operands_.insert(p_->operands_.end(), operands.begin(), operands.end());
    return begin;
  }

  void set_root(uint32_t root) { p_->root_ = root; }
  void set_uses_now() { p_->uses_now_ = true; }
  void set_local_count(uint32_t n) { p_->local_count_ = n; }
  void set_constant_value(bool b) { p_->constant_value_ = b; }

 private:
  Program* p_;
  absl::flat_hash_map<std::string, uint32_t> interned_;
};

namespace cel {
namespace {

enum class Type : uint8_t {
  kError,  // an error was reported below; report nothing more about it
  kDyn,
  kNull,
  kBool,
  kInt,
  kDouble,
  kString,
  kTimestamp,
  kList,        // elements dyn
  kStringList,  // elements string
  kMap,
  kRecord,  // subject, actor, ...: only its fields are values
};

std::string_view TypeName(Type t) {
  switch (t) {
    case Type::kError:
      return "error";
    case Type::kDyn:
      return "dyn";
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kDouble:
      return "double";
    case Type::kString:
      return "string";
    case Type::kTimestamp:
      return "timestamp";
    case Type::kList:
      return "list";
    case Type::kStringList:
      return "list(string)";
    case Type::kMap:
      return "map";
    case Type::kRecord:
      return "record";
  }
  return "?";
}

struct FieldInfo {
  std::string_view name;
  Field field;
  Type type;
};

constexpr FieldInfo kPrincipalFields[] = {
    {"id", Field::kSubjectId, Type::kString},
    {"roles", Field::kSubjectRoles, Type::kStringList},
    {"scopes", Field::kSubjectScopes, Type::kStringList},
    {"attributes", Field::kSubjectAttributes, Type::kMap},
    {"trust_domain", Field::kSubjectTrustDomain, Type::kString},
    {"auth", Field::kSubjectAuth, Type::kString},
};
constexpr FieldInfo kDelegationFields[] = {
    {"depth", Field::kDelegationDepth, Type::kInt},
    {"chain", Field::kDelegationChain, Type::kStringList},
};
constexpr FieldInfo kToolFields[] = {
    {"server", Field::kToolServer, Type::kString},
    {"name", Field::kToolName, Type::kString},
    {"arguments", Field::kToolArguments, Type::kMap},
    {"annotations", Field::kToolAnnotations, Type::kMap},
};
constexpr FieldInfo kResourceFields[] = {
    {"kind", Field::kResourceKind, Type::kString},
    {"id", Field::kResourceId, Type::kString},
    {"attributes", Field::kResourceAttributes, Type::kMap},
};
constexpr FieldInfo kGrantFields[] = {
    {"id", Field::kGrantId, Type::kString},
    {"task", Field::kGrantTask, Type::kString},
    {"environment", Field::kGrantEnvironment, Type::kString},
    {"scope", Field::kGrantScope, Type::kMap},
    {"expires_at", Field::kGrantExpiresAt, Type::kTimestamp},
};

struct RecordInfo {
  std::string_view name;
  const FieldInfo* fields;
  size_t field_count;
  int field_shift;  // added to each Field (actor reuses subject's table)
};

template <size_t N>
constexpr RecordInfo MakeRecord(std::string_view name,
                                const FieldInfo (&fields)[N], int shift = 0) {
  return {name, fields, N, shift};
}

constexpr RecordInfo kRecords[] = {
    MakeRecord("subject", kPrincipalFields),
    MakeRecord("actor", kPrincipalFields,
               static_cast<int>(Field::kActorId) -
                   static_cast<int>(Field::kSubjectId)),
    MakeRecord("delegation", kDelegationFields),
    MakeRecord("tool", kToolFields),
    MakeRecord("resource", kResourceFields),
    MakeRecord("grant", kGrantFields),
};

struct Typed {
  Type type = Type::kError;
  uint32_t node = 0;
  const RecordInfo* record = nullptr;  // with Type::kRecord
  // A map a request may leave unknown: 1 + the string index of its attribute
  // path (Node::c); 0 otherwise.
  uint32_t path = 0;
};

// The root paths of the maps a request may leave unknown (program.h).
std::string_view UnknowableMapPath(Field f) {
  switch (f) {
    case Field::kToolArguments:
      return "tool.arguments";
    case Field::kResourceAttributes:
      return "resource.attributes";
    default:
      return {};
  }
}

// `base` followed by the map key `key`: `.key` when the key is an
// identifier, else `["key"]`, so that a key with a dot stays one step, with
// `"` and `\` escaped by a backslash, and control bytes (and every byte of
// a key that is not UTF-8: an answer's paths are protobuf strings) as \xNN.
std::string ExtendPath(std::string_view base, std::string_view key) {
  const auto ident_start = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  };
  const auto ident = [&](char c) {
    return ident_start(c) || (c >= '0' && c <= '9');
  };
  std::string path(base);
  if (!key.empty() && ident_start(key[0]) &&
      std::all_of(key.begin(), key.end(), ident)) {
    path.push_back('.');
    path.append(key);
    return path;
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  const bool utf8 = FindInvalidUtf8(key) == std::string_view::npos;
  path.append("[\"");
  for (char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F || (byte >= 0x80 && !utf8)) {
      path.append("\\x");
      path.push_back(kHex[byte >> 4]);
      path.push_back(kHex[byte & 0xF]);
      continue;
    }
    if (c == '"' || c == '\\') path.push_back('\\');
    path.push_back(c);
  }
  path.append("\"]");
  return path;
}

bool IsNumeric(Type t) { return t == Type::kInt || t == Type::kDouble; }
bool IsList(Type t) { return t == Type::kList || t == Type::kStringList; }
// Whether the static type leaves the question to runtime.
bool Open(Type t) { return t == Type::kDyn || t == Type::kError; }
bool Is(Type t, Type want) { return Open(t) || t == want; }

std::string_view OpText(Tok op) {
  switch (op) {
    case Tok::kEq:
      return "==";
    case Tok::kNe:
      return "!=";
    case Tok::kLt:
      return "<";
    case Tok::kLe:
      return "<=";
    case Tok::kGt:
      return ">";
    case Tok::kGe:
      return ">=";
    case Tok::kIn:
      return "in";
    case Tok::kPlus:
      return "+";
    case Tok::kMinus:
      return "-";
    case Tok::kStar:
      return "*";
    case Tok::kSlash:
      return "/";
    case Tok::kPercent:
      return "%";
    case Tok::kNot:
      return "!";
    default:
      return "?";
  }
}

// Turns byte offsets into 1-based (line, byte column) positions.
class Positions {
 public:
  explicit Positions(std::string_view text) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n') line_starts_.push_back(static_cast<uint32_t>(i + 1));
    }
  }

  ConditionError Error(uint32_t offset, std::string code,
                       std::string message) const {
    const auto after =
        std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    ConditionError e;
    e.line = static_cast<int>(after - line_starts_.begin());
    e.column = static_cast<int>(offset - *(after - 1)) + 1;
    e.code = std::move(code);
    e.message = std::move(message);
    return e;
  }

 private:
  std::vector<uint32_t> line_starts_;
};

class Compiler {
 public:
  Compiler(const Positions& positions, const Ast& ast, ProgramBuilder* out,
           std::vector<ConditionError>* errors)
      : positions_(positions), ast_(ast), out_(out), errors_(errors) {}

  // `key`: the root is a limit key (a string or a number), not a condition.
  void Run(bool key) {
    const Expr& root_expr = ast_.nodes[ast_.root];
    const Typed root = CompileValue(ast_.root);
    if (key) {
      if (!Open(root.type) && root.type != Type::kString &&
          root.type != Type::kInt && root.type != Type::kDouble) {
        Error(root_expr.start, "type",
              Cat("a limit key must be a string or a number, found ",
                  TypeName(root.type)));
      }
    } else if (!Is(root.type, Type::kBool)) {
      Error(root_expr.start, "type",
            Cat("condition must be a bool, found ", TypeName(root.type)));
    }
    if (!errors_->empty()) return;
    out_->set_root(root.node);
    out_->set_local_count(max_locals_);
    if (const Value* c = out_->ConstOf(root.node);
        c != nullptr && c->kind() == Kind::kBool) {
      out_->set_constant_value(c->bool_value());
    }
  }

 private:
  struct Local {
    std::string_view name;
    uint32_t slot;
    Type type;
  };

  void Error(uint32_t offset, std::string code, std::string message) {
    errors_->push_back(
        positions_.Error(offset, std::move(code), std::move(message)));
  }

  Typed Fail() { return Typed{}; }
  Typed Make(Type type, uint32_t node) { return Typed{type, node, nullptr}; }

  Typed Const(const Value& v, Type type) {
    return Make(type, out_->AddConst(v));
  }

  // Compiles `index` where a value is needed: a bare record is an error.
  Typed CompileValue(int index) {
    Typed t = Compile(index);
    if (t.type == Type::kRecord) {
      Error(ast_.nodes[index].offset, "type",
            Cat("'", t.record->name,
                "' is not a value; select one of its fields"));
      return Fail();
    }
    return t;
  }

  Typed Compile(int index) {
    const Expr& e = ast_.nodes[index];
    switch (e.kind) {
      case ExprKind::kNull:
        return Const(Value::Null(), Type::kNull);
      case ExprKind::kBool:
        return Const(Value::Bool(e.bool_value), Type::kBool);
      case ExprKind::kInt:
        return Const(Value::Int(e.int_value), Type::kInt);
      case ExprKind::kDouble:
        return Const(Value::Double(e.double_value), Type::kDouble);
      case ExprKind::kString:
        return Const(Value::String(out_->InternView(e.text)), Type::kString);
      case ExprKind::kIdent:
        return CompileIdent(e);
      case ExprKind::kSelect:
        return CompileSelect(e, Compile(e.args[0]), e.text);
      case ExprKind::kIndex:
        return CompileIndex(e);
      case ExprKind::kCall:
        return CompileCall(e);
      case ExprKind::kList:
        return CompileList(e);
      case ExprKind::kMap:
        return CompileMap(e);
      case ExprKind::kUnary:
        return CompileUnary(e);
      case ExprKind::kBinary:
        return CompileBinary(e);
      case ExprKind::kAnd:
      case ExprKind::kOr:
        return CompileLogical(e);
      case ExprKind::kCond:
        return CompileCond(e);
    }
    return Fail();
  }

  Typed CompileIdent(const Expr& e) {
    for (auto it = locals_.rbegin(); it != locals_.rend(); ++it) {
      if (it->name == e.text)
        return Make(it->type, out_->AddNode(Op::kLocal, it->slot));
    }
    for (const RecordInfo& r : kRecords) {
      if (r.name == e.text) return Typed{Type::kRecord, 0, &r};
    }
    if (e.text == "action") return Load(Field::kAction, Type::kString);
    if (e.text == "context") return Load(Field::kContext, Type::kMap);
    if (e.text == "now") {
      out_->set_uses_now();
      return Load(Field::kNow, Type::kTimestamp);
    }
    Error(e.offset, "undeclared",
          Cat("undeclared reference ", QuoteToken(e.text, '\'')));
    return Fail();
  }

  Typed Load(Field f, Type type) {
    Typed t = Make(type, out_->AddNode(Op::kLoad, static_cast<uint32_t>(f)));
    if (const std::string_view path = UnknowableMapPath(f); !path.empty()) {
      t.path = out_->Intern(path) + 1;
    }
    return t;
  }

  // The Node::c of a constant-key selection of `key` from `base`.
  uint32_t PathOf(const Typed& base, std::string_view key) {
    if (base.path == 0) return 0;
    return out_->Intern(ExtendPath(out_->string(base.path - 1), key)) + 1;
  }

  // The field `name` of `record`, or an error at `offset`.
  const FieldInfo* FindField(const RecordInfo& record, std::string_view name,
                             uint32_t offset) {
    for (size_t i = 0; i < record.field_count; ++i) {
      if (record.fields[i].name == name) return &record.fields[i];
    }
    Error(offset, "no_such_field",
          Cat("no field ", QuoteToken(name, '\''), " on ", record.name));
    return nullptr;
  }
  static Field Shifted(const RecordInfo& record, const FieldInfo& f) {
    return static_cast<Field>(static_cast<int>(f.field) + record.field_shift);
  }

  Typed CompileSelect(const Expr& e, Typed base, std::string_view name) {
    if (base.type == Type::kError) return Fail();
    if (base.type == Type::kRecord) {
      const FieldInfo* f = FindField(*base.record, name, e.offset);
      if (f == nullptr) return Fail();
      return Load(Shifted(*base.record, *f), f->type);
    }
    if (Is(base.type, Type::kMap)) {
      Typed t = Make(Type::kDyn,
                     out_->AddNode(Op::kSelect, base.node, out_->Intern(name),
                                   PathOf(base, name)));
      t.path = out_->node(t.node).c;
      return t;
    }
    Error(e.offset, "type",
          Cat("type ", TypeName(base.type), " has no field '", name, "'"));
    return Fail();
  }

  Typed CompileIndex(const Expr& e) {
    const Typed base = Compile(e.args[0]);
    const Expr& index_expr = ast_.nodes[e.args[1]];
    if (base.type == Type::kRecord) {
      if (index_expr.kind != ExprKind::kString) {
        Error(index_expr.offset, "type",
              Cat("fields of ", base.record->name,
                  " are selected by a string literal"));
        return Fail();
      }
      return CompileSelect(index_expr, base, index_expr.text);
    }
    const Typed index = CompileValue(e.args[1]);
    if (base.type == Type::kError || index.type == Type::kError) return Fail();
    Type result = Type::kDyn;
    if (IsList(base.type)) {
      if (!Is(index.type, Type::kInt) && index.type != Type::kDouble) {
        Error(index_expr.offset, "type",
              Cat("list index must be an int, found ", TypeName(index.type)));
        return Fail();
      }
      if (base.type == Type::kStringList) result = Type::kString;
    } else if (!Is(base.type, Type::kMap)) {
      Error(e.offset, "type",
            Cat("type ", TypeName(base.type), " cannot be indexed"));
      return Fail();
    }
    // A constant string key reads a path as a selection does; any other
    // key leaves an unknown map's path as it is.
    const Value* key = out_->ConstOf(index.node);
    const uint32_t path =
        key != nullptr && key->kind() == Kind::kString && !IsList(base.type)
            ? PathOf(base, key->string_value())
            : 0;
    Typed t =
        Make(result, out_->AddNode(Op::kIndex, base.node, index.node, path));
    t.path = path;
    return t;
  }

  Typed CompileList(const Expr& e) {
    std::vector<uint32_t> elements;
    bool failed = false;
    bool all_strings = true;
    for (int a : e.args) {
      const Typed t = CompileValue(a);
      failed |= t.type == Type::kError;
      all_strings &= t.type == Type::kString;
      elements.push_back(t.node);
    }
    if (failed) return Fail();
    const Type type =
        all_strings && !elements.empty() ? Type::kStringList : Type::kList;
    std::vector<Value> values;
    for (uint32_t n : elements) {
      const Value* c = out_->ConstOf(n);
      if (c == nullptr) {
        return Make(type,
                    out_->AddNode(Op::kList, out_->AddOperands(elements),
                                  static_cast<uint32_t>(elements.size())));
      }
      values.push_back(*c);
    }
    const size_t size = values.size();
    return Const(Value::List(out_->AddArray(std::move(values)), size), type);
  }

  Typed CompileMap(const Expr& e) {
    model::ValueMap map;
    bool failed = false;
    for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
      const Typed key = CompileValue(e.args[i]);
      const Typed value = CompileValue(e.args[i + 1]);
      if (key.type == Type::kError || value.type == Type::kError) {
        failed = true;
        continue;
      }
      const Value* k = out_->ConstOf(key.node);
      const Value* v = out_->ConstOf(value.node);
      if (k == nullptr || v == nullptr) {
        Error(ast_.nodes[e.args[k == nullptr ? i : i + 1]].start, "type",
              "map literals must be constant");
        failed = true;
        continue;
      }
      if (k->kind() != Kind::kString && k->kind() != Kind::kInt &&
          k->kind() != Kind::kBool) {
        Error(ast_.nodes[e.args[i]].offset, "type",
              Cat("map keys must be string, int or bool, found ",
                  TypeName(key.type)));
        failed = true;
        continue;
      }
      for (const auto& [existing, unused] : map.entries) {
        if (model::ScalarEqual(existing, *k).value_or(false)) {
          Error(ast_.nodes[e.args[i]].offset, "type", "duplicate map key");
          failed = true;
        }
      }
      map.entries.emplace_back(*k, *v);
    }
    if (failed) return Fail();
    return Const(Value::Map(out_->AddMap(std::move(map))), Type::kMap);
  }

  Typed CompileUnary(const Expr& e) {
    const Typed operand = CompileValue(e.args[0]);
    if (operand.type == Type::kError) return Fail();
    const Value* c = out_->ConstOf(operand.node);
    if (e.op == Tok::kNot) {
      if (!Is(operand.type, Type::kBool)) {
        Error(e.offset, "type",
              Cat("operator '!' cannot apply to ", TypeName(operand.type)));
        return Fail();
      }
      if (c != nullptr)
        return Const(Value::Bool(!c->bool_value()), Type::kBool);
      return Make(Type::kBool, out_->AddNode(Op::kNot, operand.node));
    }
    if (!Open(operand.type) && !IsNumeric(operand.type)) {
      Error(e.offset, "type",
            Cat("operator '-' cannot apply to ", TypeName(operand.type)));
      return Fail();
    }
    if (c != nullptr && c->kind() == Kind::kDouble) {
      return Const(Value::Double(-c->double_value()), Type::kDouble);
    }
    return Make(operand.type, out_->AddNode(Op::kNeg, operand.node));
  }

  Typed CompileLogical(const Expr& e) {
    const bool is_and = e.kind == ExprKind::kAnd;
    std::vector<uint32_t> operands;
    bool failed = false;
    std::optional<bool> decided;  // a constant operand that decides it all
    for (int a : e.args) {
      const Typed t = CompileValue(a);
      if (t.type == Type::kError) {
        failed = true;
        continue;
      }
      if (!Is(t.type, Type::kBool)) {
        Error(e.offset, "type",
              Cat("operator '", is_and ? "&&" : "||", "' cannot apply to ",
                  TypeName(t.type)));
        failed = true;
        continue;
      }
      if (const Value* c = out_->ConstOf(t.node)) {
        if (c->bool_value() != is_and) decided = c->bool_value();
        continue;  // a neutral constant changes nothing
      }
      operands.push_back(t.node);
    }
    if (failed) return Fail();
    if (decided.has_value()) return Const(Value::Bool(*decided), Type::kBool);
    if (operands.empty()) return Const(Value::Bool(is_and), Type::kBool);
    if (operands.size() == 1) return Make(Type::kBool, operands[0]);
    return Make(
        Type::kBool,
        out_->AddNode(is_and ? Op::kAnd : Op::kOr, out_->AddOperands(operands),
                      static_cast<uint32_t>(operands.size())));
  }

  Typed CompileCond(const Expr& e) {
    const Typed cond = CompileValue(e.args[0]);
    const Typed then = CompileValue(e.args[1]);
    const Typed otherwise = CompileValue(e.args[2]);
    if (cond.type == Type::kError || then.type == Type::kError ||
        otherwise.type == Type::kError) {
      return Fail();
    }
    if (!Is(cond.type, Type::kBool)) {
      Error(e.offset, "type",
            Cat("the condition of '?:' must be a bool, found ",
                TypeName(cond.type)));
      return Fail();
    }
    if (const Value* c = out_->ConstOf(cond.node)) {
      return c->bool_value() ? then : otherwise;
    }
    const Type type = then.type == otherwise.type ? then.type : Type::kDyn;
    return Make(type,
                out_->AddNode(Op::kCond, cond.node, then.node, otherwise.node));
  }

  Typed CompileBinary(const Expr& e) {
    const Typed l = CompileValue(e.args[0]);
    const Typed r = CompileValue(e.args[1]);
    if (l.type == Type::kError || r.type == Type::kError) return Fail();
    const Value* lc = out_->ConstOf(l.node);
    const Value* rc = out_->ConstOf(r.node);
    switch (e.op) {
      case Tok::kEq:
      case Tok::kNe: {
        if (lc != nullptr && rc != nullptr) {
          if (auto eq = model::ScalarEqual(*lc, *rc)) {
            return Const(Value::Bool(*eq == (e.op == Tok::kEq)), Type::kBool);
          }
        }
        return Make(Type::kBool,
                    out_->AddNode(e.op == Tok::kEq ? Op::kEq : Op::kNe, l.node,
                                  r.node));
      }
      case Tok::kLt:
      case Tok::kLe:
      case Tok::kGt:
      case Tok::kGe:
        return CompileOrdering(e, l, r, lc, rc);
      case Tok::kIn:
        return CompileIn(e, l, r, rc);
      default:
        return CompileArithmetic(e, l, r);
    }
  }

  Typed CompileOrdering(const Expr& e, const Typed& l, const Typed& r,
                        const Value* lc, const Value* rc) {
    const bool comparable = Open(l.type) || Open(r.type) ||
                            (IsNumeric(l.type) && IsNumeric(r.type)) ||
                            (l.type == r.type && (l.type == Type::kString ||
                                                  l.type == Type::kBool ||
                                                  l.type == Type::kTimestamp));
    if (!comparable) {
      Error(e.offset, "type",
            Cat("operator '", OpText(e.op), "' cannot compare ",
                TypeName(l.type), " and ", TypeName(r.type)));
      return Fail();
    }
    const Op op = e.op == Tok::kLt   ? Op::kLt
                  : e.op == Tok::kLe ? Op::kLe
                  : e.op == Tok::kGt ? Op::kGt
                                     : Op::kGe;
    if (lc != nullptr && rc != nullptr) {
      if (auto order = model::Order(*lc, *rc)) {
        const bool result = op == Op::kLt   ? *order < 0
                            : op == Op::kLe ? *order <= 0
                            : op == Op::kGt ? *order > 0
                                            : *order >= 0;
        return Const(Value::Bool(result), Type::kBool);
      }
    }
    return Make(Type::kBool, out_->AddNode(op, l.node, r.node));
  }

  Typed CompileIn(const Expr& e, const Typed& l, const Typed& r,
                  const Value* rc) {
    if (!Open(r.type) && !IsList(r.type) && r.type != Type::kMap) {
      Error(e.offset, "type",
            Cat("operator 'in' needs a list or map on the right, "
                "found ",
                TypeName(r.type)));
      return Fail();
    }
    // A constant list of strings becomes a hash set: O(1) allow-lists.
    if (rc != nullptr && rc->kind() == Kind::kList &&
        r.type == Type::kStringList) {
      absl::flat_hash_set<std::string> set;
      for (size_t i = 0; i < rc->array_size(); ++i) {
        set.emplace(rc->array()[i].string_value());
      }
      return Make(Type::kBool, out_->AddNode(Op::kInSet, l.node,
                                             out_->AddSet(std::move(set))));
    }
    return Make(Type::kBool, out_->AddNode(Op::kIn, l.node, r.node));
  }

  Typed CompileArithmetic(const Expr& e, const Typed& l, const Typed& r) {
    Type result = Type::kError;
    const bool dyn = Open(l.type) || Open(r.type);
    if (IsNumeric(l.type) && IsNumeric(r.type)) {
      result = l.type == Type::kInt && r.type == Type::kInt ? Type::kInt
                                                            : Type::kDouble;
      if (e.op == Tok::kPercent && result != Type::kInt) result = Type::kError;
    } else if (e.op == Tok::kPlus && l.type == Type::kString &&
               r.type == Type::kString) {
      result = Type::kString;
    } else if (e.op == Tok::kPlus && IsList(l.type) && IsList(r.type)) {
      result = l.type == r.type ? l.type : Type::kList;
    } else if (dyn) {
      const Type known = Open(l.type) ? r.type : l.type;
      const bool ok =
          Open(known) || IsNumeric(known) ||
          (e.op == Tok::kPlus && (known == Type::kString || IsList(known)));
      if (ok) result = Type::kDyn;
    }
    if (result == Type::kError) {
      Error(e.offset, "type",
            Cat("operator '", OpText(e.op), "' cannot apply to ",
                TypeName(l.type), " and ", TypeName(r.type)));
      return Fail();
    }
    const Op op = e.op == Tok::kPlus    ? Op::kAdd
                  : e.op == Tok::kMinus ? Op::kSub
                  : e.op == Tok::kStar  ? Op::kMul
                  : e.op == Tok::kSlash ? Op::kDiv
                                        : Op::kMod;
    return Make(result, out_->AddNode(op, l.node, r.node));
  }

  bool CheckArity(const Expr& e, std::string_view name, size_t want,
                  size_t have) {
    if (want == have) return true;
    Error(e.offset, "type",
          Cat(name, "() takes ", want, want == 1 ? " argument" : " arguments",
              ", found ", have));
    return false;
  }

  // Checks that `t` is one of `allowed` (or dyn) for function `name`.
  bool Accepts(const Expr& e, std::string_view name, const Typed& t,
               std::initializer_list<Type> allowed) {
    if (Open(t.type)) return true;
    for (Type a : allowed) {
      if (t.type == a) return true;
    }
    Error(e.offset, "type",
          Cat(name, "() does not apply to ", TypeName(t.type)));
    return false;
  }

  Typed CompileCall(const Expr& e) {
    const std::string_view name = e.text;
    const size_t first_arg = e.has_target ? 1 : 0;
    const size_t argc = e.args.size() - first_arg;
    auto arg = [&](size_t i) { return e.args[first_arg + i]; };

    if (!e.has_target) {
      if (name == "has") return CompileHas(e);
      if (name == "timestamp") return CompileTimestamp(e);
      if (name == "size" || name == "int" || name == "double" ||
          name == "string") {
        if (!CheckArity(e, name, 1, argc)) return Fail();
        return CompileUnaryFunction(e, name, CompileValue(arg(0)));
      }
      if (name == "matches") {
        if (!CheckArity(e, name, 2, argc)) return Fail();
        return CompileMatches(e, CompileValue(arg(0)), arg(1));
      }
      Error(e.offset, "undeclared",
            Cat("undeclared function ", QuoteToken(name, '\'')));
      return Fail();
    }

    if (name == "exists" || name == "all" || name == "exists_one") {
      if (!CheckArity(e, name, 2, argc)) return Fail();
      return CompileComprehension(e, arg(0), arg(1));
    }
    const bool known = name == "size" || name == "startsWith" ||
                       name == "endsWith" || name == "contains" ||
                       name == "matches" || name == "getHours" ||
                       name == "getMinutes" || name == "getDayOfWeek";
    if (!known) {
      Error(e.offset, "undeclared",
            Cat("undeclared function ", QuoteToken(name, '\'')));
      return Fail();
    }
    const Typed target = CompileValue(e.args[0]);
    if (name == "matches") {
      if (!CheckArity(e, name, 1, argc)) return Fail();
      return CompileMatches(e, target, arg(0));
    }
    if (name == "size" || name == "getHours" || name == "getMinutes" ||
        name == "getDayOfWeek") {
      if (!CheckArity(e, name, 0, argc)) return Fail();
      return CompileUnaryFunction(e, name, target);
    }
    if (!CheckArity(e, name, 1, argc)) return Fail();
    const Typed needle = CompileValue(arg(0));
    if (target.type == Type::kError || needle.type == Type::kError) {
      return Fail();
    }
    if (!Accepts(e, name, target, {Type::kString})) return Fail();
    if (!Open(needle.type) && needle.type != Type::kString) {
      Error(ast_.nodes[arg(0)].offset, "type",
            Cat(name, "() needs a string argument, found ",
                TypeName(needle.type)));
      return Fail();
    }
    const Op op = name == "startsWith" ? Op::kStartsWith
                  : name == "endsWith" ? Op::kEndsWith
                                       : Op::kContains;
    return Make(Type::kBool, out_->AddNode(op, target.node, needle.node));
  }

  // size, int, double, string, getHours, getMinutes, getDayOfWeek.
  Typed CompileUnaryFunction(const Expr& e, std::string_view name,
                             const Typed& x) {
    if (x.type == Type::kError) return Fail();
    Op op;
    Type result = Type::kInt;
    bool ok;
    if (name == "size") {
      op = Op::kSize;
      ok = Accepts(e, name, x,
                   {Type::kString, Type::kList, Type::kStringList, Type::kMap});
    } else if (name == "int") {
      op = Op::kToInt;
      ok =
          Accepts(e, name, x,
                  {Type::kInt, Type::kDouble, Type::kString, Type::kTimestamp});
    } else if (name == "double") {
      op = Op::kToDouble;
      result = Type::kDouble;
      ok = Accepts(e, name, x, {Type::kInt, Type::kDouble, Type::kString});
    } else if (name == "string") {
      op = Op::kToString;
      result = Type::kString;
      ok = Accepts(e, name, x,
                   {Type::kInt, Type::kDouble, Type::kString, Type::kBool,
                    Type::kTimestamp});
    } else {
      op = name == "getHours"     ? Op::kGetHours
           : name == "getMinutes" ? Op::kGetMinutes
                                  : Op::kGetDayOfWeek;
      ok = Accepts(e, name, x, {Type::kTimestamp});
    }
    if (!ok) return Fail();
    return Make(result, out_->AddNode(op, x.node));
  }

  Typed CompileMatches(const Expr& e, const Typed& target, int pattern_index) {
    const Expr& pattern = ast_.nodes[pattern_index];
    if (pattern.kind != ExprKind::kString) {
      Error(pattern.start, "type", "matches() needs a string literal pattern");
      return Fail();
    }
    if (target.type == Type::kError) return Fail();
    if (!Accepts(e, "matches", target, {Type::kString})) return Fail();
    RE2::Options options;
    options.set_log_errors(false);
    auto re = std::make_unique<RE2>(pattern.text, options);
    if (!re->ok()) {
      Error(pattern.offset, "regex",
            Cat("invalid regular expression: ", re->error()));
      return Fail();
    }
    return Make(Type::kBool, out_->AddNode(Op::kMatches, target.node,
                                           out_->AddRegex(std::move(re))));
  }

  Typed CompileHas(const Expr& e) {
    if (e.args.size() != 1 || ast_.nodes[e.args[0]].kind != ExprKind::kSelect) {
      Error(e.offset, "syntax",
            "has() needs one field selection, like has(a.b)");
      return Fail();
    }
    const Expr& select = ast_.nodes[e.args[0]];
    const Typed base = Compile(select.args[0]);
    if (base.type == Type::kError) return Fail();
    if (base.type == Type::kRecord) {
      const FieldInfo* f = FindField(*base.record, select.text, select.offset);
      if (f == nullptr) return Fail();
      return Make(Type::kBool,
                  out_->AddNode(Op::kHasField, static_cast<uint32_t>(
                                                   Shifted(*base.record, *f))));
    }
    if (!Is(base.type, Type::kMap)) {
      Error(select.offset, "type",
            Cat("has() needs a map or record, found ", TypeName(base.type)));
      return Fail();
    }
    return Make(Type::kBool,
                out_->AddNode(Op::kHas, base.node, out_->Intern(select.text),
                              PathOf(base, select.text)));
  }

  Typed CompileTimestamp(const Expr& e) {
    if (!CheckArity(e, "timestamp", 1, e.args.size())) return Fail();
    const Expr& arg = ast_.nodes[e.args[0]];
    if (arg.kind != ExprKind::kString) {
      Error(arg.offset, "type",
            "timestamp() needs a string literal like "
            "\"2025-01-31T12:00:00Z\"");
      return Fail();
    }
    absl::Time t;
    std::string why;
    if (!absl::ParseTime(absl::RFC3339_full, arg.text, &t, &why)) {
      Error(arg.offset, "type",
            Cat("invalid RFC 3339 timestamp '", arg.text, "'"));
      return Fail();
    }
    return Const(Value::Timestamp(t), Type::kTimestamp);
  }

  Typed CompileComprehension(const Expr& e, int var_index, int predicate) {
    const Expr& var = ast_.nodes[var_index];
    if (var.kind != ExprKind::kIdent) {
      Error(var.offset, "syntax",
            Cat(e.text, "() needs a variable name first"));
      return Fail();
    }
    const Typed range = CompileValue(e.args[0]);
    if (range.type == Type::kError) return Fail();
    if (!Open(range.type) && !IsList(range.type) && range.type != Type::kMap) {
      Error(e.offset, "type",
            Cat(e.text, "() does not apply to ", TypeName(range.type)));
      return Fail();
    }
    const auto slot = static_cast<uint32_t>(locals_.size());
    locals_.push_back(
        {var.text, slot,
         range.type == Type::kStringList ? Type::kString : Type::kDyn});
    max_locals_ = std::max(max_locals_, slot + 1);
    const Typed body = CompileValue(predicate);
    locals_.pop_back();
    if (body.type == Type::kError) return Fail();
    if (!Is(body.type, Type::kBool)) {
      Error(ast_.nodes[predicate].offset, "type",
            Cat("the predicate of ", e.text, "() must be a bool, found ",
                TypeName(body.type)));
      return Fail();
    }
    const Op op = e.text == "exists" ? Op::kExists
                  : e.text == "all"  ? Op::kAll
                                     : Op::kExistsOne;
    return Make(Type::kBool, out_->AddNode(op, range.node, slot, body.node));
  }

  const Positions& positions_;
  const Ast& ast_;
  ProgramBuilder* out_;
  std::vector<ConditionError>* errors_;
  std::vector<Local> locals_;
  uint32_t max_locals_ = 0;
};

}  // namespace
}  // namespace cel

namespace {

absl::StatusOr<Program> CompileProgram(std::string_view text, bool key,
                                       std::vector<ConditionError>* errors) {
  const size_t errors_before = errors->size();
  auto failure = [&]() {
    return absl::InvalidArgumentError(
        cel::Cat("condition has ", errors->size() - errors_before,
                 " error(s); first: ", (*errors)[errors_before].message));
  };
  if (text.size() > static_cast<size_t>(kMaxConditionBytes)) {
    errors->push_back(cel::Positions("").Error(
        0, "limit",
        cel::Cat("condition is ", text.size(), " bytes; the limit is ",
                 kMaxConditionBytes)));
    return failure();
  }
  const cel::Positions positions(text);
  std::vector<cel::Token> tokens;
  std::vector<cel::LexError> lex_errors;
  cel::Lex(text, &tokens, &lex_errors);
  if (!lex_errors.empty()) {
    for (cel::LexError& e : lex_errors) {
      errors->push_back(
          positions.Error(e.offset, "syntax", std::move(e.message)));
    }
    return failure();
  }
  cel::Ast ast;
  cel::ParseError parse_error;
  if (!cel::Parse(text, tokens, &ast, &parse_error)) {
    errors->push_back(positions.Error(parse_error.offset,
                                      std::move(parse_error.code),
                                      std::move(parse_error.message)));
    return failure();
  }
  Program program;
  ProgramBuilder builder(&program);
  std::vector<ConditionError> check_errors;
  cel::Compiler(positions, ast, &builder, &check_errors).Run(key);
  if (!check_errors.empty()) {
    std::stable_sort(check_errors.begin(), check_errors.end(),
                     [](const ConditionError& a, const ConditionError& b) {
                       return std::tie(a.line, a.column) <
                              std::tie(b.line, b.column);
                     });
    errors->insert(errors->end(), check_errors.begin(), check_errors.end());
    return failure();
  }
  return program;
}

}  // namespace

absl::StatusOr<Program> CompileCondition(std::string_view text,
                                         std::vector<ConditionError>* errors) {
  return CompileProgram(text, /*key=*/false, errors);
}

absl::StatusOr<Program> CompileLimitKey(std::string_view text,
                                        std::vector<ConditionError>* errors) {
  return CompileProgram(text, /*key=*/true, errors);
}

}  // namespace verdict::policy
