#include "server/engine/interpreter.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "re2/re2.h"

namespace verdict::engine {

using model::ErrorCode;
using model::ErrorText;
using model::EvalScratch;
using model::FromProto;
using model::Kind;
using model::Order;
using model::Principal;
using model::Rep;
using model::Request;
using model::ScalarEqual;
using model::Value;
namespace {

using policy::Field;
using policy::Node;
using policy::Op;
using policy::Program;

// Equality recurses into nested lists and maps from the request; cap it.
constexpr int kMaxEqualDepth = 32;

absl::string_view Absl(std::string_view s) { return {s.data(), s.size()}; }

size_t ListSize(const Value& list) {
  switch (list.rep()) {
    case Rep::kStringList:
      return list.string_list() == nullptr ? 0 : list.string_list()->size();
    case Rep::kProtoList:
      return static_cast<size_t>(list.proto_list()->values_size());
    default:
      return list.array_size();
  }
}

Value ListAt(const Value& list, size_t i) {
  switch (list.rep()) {
    case Rep::kStringList:
      return Value::String(list.string_list()->Get(static_cast<int>(i)));
    case Rep::kProtoList:
      return FromProto(list.proto_list()->values(static_cast<int>(i)));
    default:
      return list.array()[i];
  }
}

size_t MapSize(const Value& map) {
  if (map.rep() == Rep::kPairs) return map.pairs()->entries.size();
  return map.proto_struct() == nullptr ? 0 : map.proto_struct()->fields_size();
}

// Looks `key` up in `map`; false when absent.
bool MapFind(const Value& map, const Value& key, Value* out) {
  if (map.rep() == Rep::kPairs) {
    for (const auto& [k, v] : map.pairs()->entries) {
      if (ScalarEqual(k, key).value_or(false)) {
        *out = v;
        return true;
      }
    }
    return false;
  }
  if (key.kind() != Kind::kString || map.proto_struct() == nullptr) {
    return false;
  }
  const auto& fields = map.proto_struct()->fields();
  const auto it = fields.find(key.string_value());
  if (it == fields.end()) return false;
  *out = FromProto(it->second);
  return true;
}

// Calls `f(element)` for each list element or map key until it returns
// false.
template <typename F>
void ForEach(const Value& range, F f) {
  if (range.kind() == Kind::kList) {
    const size_t n = ListSize(range);
    for (size_t i = 0; i < n; ++i) {
      if (!f(ListAt(range, i))) return;
    }
    return;
  }
  if (range.rep() == Rep::kPairs) {
    for (const auto& entry : range.pairs()->entries) {
      if (!f(entry.first)) return;
    }
    return;
  }
  if (range.proto_struct() == nullptr) return;
  for (const auto& entry : range.proto_struct()->fields()) {
    if (!f(Value::String(entry.first))) return;
  }
}

// The error for a missing key; the detail names it unless it lives in the
// scratch, which does not outlive the evaluation.
Value NoSuchKey(const Value& key) {
  if (key.kind() == Kind::kString && key.rep() != Rep::kScratch) {
    return Value::Error(ErrorCode::kNoSuchKey, key.string_value());
  }
  return Value::Error(ErrorCode::kNoSuchKey);
}

Value Overload(std::string_view what) {
  return Value::Error(ErrorCode::kNoMatchingOverload, what);
}

// a == b as a bool Value, or an error (nesting too deep).
Value Equal(const Value& a, const Value& b, int depth) {
  if (auto eq = ScalarEqual(a, b)) return Value::Bool(*eq);
  if (a.kind() != b.kind()) return Value::Bool(false);
  if (depth > kMaxEqualDepth) return Value::Error(ErrorCode::kTooDeep);
  if (a.kind() == Kind::kList) {
    const size_t n = ListSize(a);
    if (n != ListSize(b)) return Value::Bool(false);
    for (size_t i = 0; i < n; ++i) {
      const Value e = Equal(ListAt(a, i), ListAt(b, i), depth + 1);
      if (e.is_error() || !e.bool_value()) return e;
    }
    return Value::Bool(true);
  }
  // Maps: same size and every key of `a` maps to an equal value in `b`.
  if (MapSize(a) != MapSize(b)) return Value::Bool(false);
  Value result = Value::Bool(true);
  ForEach(a, [&](const Value& key) {
    Value av;
    Value bv;
    if (!MapFind(a, key, &av) || !MapFind(b, key, &bv)) {
      result = Value::Bool(false);
      return false;
    }
    result = Equal(av, bv, depth + 1);
    return !result.is_error() && result.bool_value();
  });
  return result;
}

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// Empty when the field's record is absent from the request.
const Principal* PrincipalOf(const Request& r, Field f) {
  return f < Field::kActorId ? &r.subject : r.actor;
}

class Evaluator {
 public:
  Evaluator(const Program& program, const Request& request,
            EvalScratch* scratch, Value* locals)
      : p_(program), r_(request), scratch_(scratch), locals_(locals) {}

  Value Eval(uint32_t index) {
    const Node& n = p_.node(index);
    switch (n.op) {
      case Op::kConst:
        return p_.constant(n.a);
      case Op::kLoad:
        return Load(static_cast<Field>(n.a));
      case Op::kLocal:
        return locals_[n.a];
      case Op::kSelect: {
        const Value base = Eval(n.a);
        if (base.is_special()) return Extend(base, n);
        const Value key = Value::String(p_.string(n.b));
        if (base.kind() != Kind::kMap) return Overload(p_.string(n.b));
        Value out;
        return MapFind(base, key, &out) ? out : NoSuchKey(key);
      }
      case Op::kIndex:
        return Index(n, Eval(n.a), Eval(n.b));
      case Op::kHas: {
        const Value base = Eval(n.a);
        if (base.is_unknown()) return Extend(base, n);
        Value out;
        return Value::Bool(base.kind() == Kind::kMap &&
                           MapFind(base, Value::String(p_.string(n.b)), &out));
      }
      case Op::kHasField:
        return HasField(static_cast<Field>(n.a));
      case Op::kNot: {
        const Value v = Eval(n.a);
        if (v.is_special()) return v;
        if (v.kind() != Kind::kBool) return Overload("!");
        return Value::Bool(!v.bool_value());
      }
      case Op::kNeg:
        return Negate(Eval(n.a));
      case Op::kAnd:
      case Op::kOr:
        return Logical(n);
      case Op::kCond: {
        const Value c = Eval(n.a);
        if (c.is_special()) return c;
        if (c.kind() != Kind::kBool) return Overload("?:");
        return Eval(c.bool_value() ? n.b : n.c);
      }
      case Op::kEq:
      case Op::kNe: {
        const Value a = Eval(n.a);
        if (a.is_special()) return a;
        const Value b = Eval(n.b);
        if (b.is_special()) return b;
        const Value eq = Equal(a, b, 0);
        if (eq.is_error() || n.op == Op::kEq) return eq;
        return Value::Bool(!eq.bool_value());
      }
      case Op::kLt:
      case Op::kLe:
      case Op::kGt:
      case Op::kGe:
        return Compare(n);
      case Op::kAdd:
      case Op::kSub:
      case Op::kMul:
      case Op::kDiv:
      case Op::kMod:
        return Arithmetic(n.op, Eval(n.a), Eval(n.b));
      case Op::kIn:
        return In(Eval(n.a), Eval(n.b));
      case Op::kInSet: {
        const Value v = Eval(n.a);
        if (v.is_special()) return v;
        return Value::Bool(v.kind() == Kind::kString &&
                           p_.string_set(n.b).contains(Absl(v.string_value())));
      }
      case Op::kList:
        return List(n);
      case Op::kSize:
        return Size(Eval(n.a));
      case Op::kStartsWith:
      case Op::kEndsWith:
      case Op::kContains:
        return StringTest(n.op, Eval(n.a), Eval(n.b));
      case Op::kMatches: {
        const Value v = Eval(n.a);
        if (v.is_special()) return v;
        if (v.kind() != Kind::kString) return Overload("matches");
        const std::string_view s = v.string_value();
        return Value::Bool(RE2::PartialMatch(
            re2::StringPiece(s.data(), s.size()), p_.regex(n.b)));
      }
      case Op::kExists:
      case Op::kAll:
      case Op::kExistsOne:
        return Comprehension(n);
      case Op::kToInt:
        return ToInt(Eval(n.a));
      case Op::kToDouble:
        return ToDouble(Eval(n.a));
      case Op::kToString:
        return ToString(Eval(n.a));
      case Op::kGetHours:
      case Op::kGetMinutes:
      case Op::kGetDayOfWeek:
        return TimePart(n.op, Eval(n.a));
    }
    return Value::Error(ErrorCode::kNoMatchingOverload);
  }

 private:
  // An unknown standing for `path` (static text or the Program's pool),
  // recorded in the scratch.
  Value Unknown(std::string_view path) {
    return Value::Unknown(path, scratch_->AddUnknownPath(path));
  }

  // What a selection, index or has() node `n` gives on a special `base`:
  // an error or an unknown without a path of its own passes unchanged; an
  // unknown map becomes the unknown of the longer path the node reads,
  // which replaces the base's path when the base had just recorded it.
  Value Extend(const Value& base, const Node& n) {
    const std::string_view path = p_.path(n);
    if (!base.is_unknown() || path.empty()) return base;
    const std::vector<std::string_view>& paths = scratch_->unknown_paths();
    if (base.unknown_fresh() && !paths.empty() &&
        paths.back() == base.unknown_path()) {
      scratch_->DropLastUnknownPath();
    }
    return Unknown(path);
  }

  Value Load(Field f) {
    switch (f) {
      case Field::kSubjectId:
      case Field::kSubjectRoles:
      case Field::kSubjectScopes:
      case Field::kSubjectAttributes:
      case Field::kSubjectTrustDomain:
      case Field::kSubjectAuth:
      case Field::kActorId:
      case Field::kActorRoles:
      case Field::kActorScopes:
      case Field::kActorAttributes:
      case Field::kActorTrustDomain:
      case Field::kActorAuth: {
        const Principal* p = PrincipalOf(r_, f);
        if (p == nullptr) return Value::Error(ErrorCode::kAbsent, "actor");
        const int which =
            (static_cast<int>(f) - static_cast<int>(Field::kSubjectId)) %
            (static_cast<int>(Field::kActorId) -
             static_cast<int>(Field::kSubjectId));
        switch (static_cast<Field>(which)) {
          case Field::kSubjectId:
            return Value::String(p->id);
          case Field::kSubjectRoles:
            return Value::List(p->roles);
          case Field::kSubjectScopes:
            return Value::List(p->scopes);
          case Field::kSubjectAttributes:
            return Value::Map(p->attributes);
          case Field::kSubjectTrustDomain:
            return Value::String(p->trust_domain);
          default:
            return Value::String(p->auth);
        }
      }
      case Field::kDelegationDepth:
        return Value::Int(r_.delegation.depth);
      case Field::kDelegationChain:
        return Value::List(r_.delegation.chain);
      case Field::kToolServer:
        return Value::String(r_.tool.server);
      case Field::kToolName:
        return Value::String(r_.tool.name);
      case Field::kToolArguments:
        if (r_.arguments_unknown) return Unknown("tool.arguments");
        return Value::Map(r_.tool.arguments);
      case Field::kToolAnnotations:
        return Value::Map(r_.tool.annotations);
      case Field::kAction:
        return Value::String(r_.action);
      case Field::kResourceKind:
      case Field::kResourceId:
      case Field::kResourceAttributes:
        if (!r_.resource.present) {
          if (r_.resource_unknown) {
            return Unknown(f == Field::kResourceKind ? "resource.kind"
                           : f == Field::kResourceId ? "resource.id"
                                                     : "resource.attributes");
          }
          return Value::Error(ErrorCode::kAbsent, "resource");
        }
        if (f == Field::kResourceKind) return Value::String(r_.resource.kind);
        if (f == Field::kResourceId) return Value::String(r_.resource.id);
        return Value::Map(r_.resource.attributes);
      case Field::kContext:
        return Value::Map(r_.context);
      case Field::kGrantId:
      case Field::kGrantTask:
      case Field::kGrantEnvironment:
      case Field::kGrantScope:
      case Field::kGrantExpiresAt:
        if (!r_.grant.present) return Value::Error(ErrorCode::kAbsent, "grant");
        switch (f) {
          case Field::kGrantId:
            return Value::String(r_.grant.id);
          case Field::kGrantTask:
            return Value::String(r_.grant.task);
          case Field::kGrantEnvironment:
            return Value::String(r_.grant.environment);
          case Field::kGrantScope:
            return Value::Map(r_.grant.scope);
          default:
            return Value::Timestamp(r_.grant.expires_at);
        }
      case Field::kNow:
        return Value::Timestamp(r_.now);
    }
    return Value::Error(ErrorCode::kAbsent);
  }

  // has() on a request field: its record is present and it is not empty;
  // unknown when the field is.
  Value HasField(Field f) {
    const Value v = Load(f);
    switch (v.kind()) {
      case Kind::kError:
        return Value::Bool(false);
      case Kind::kUnknown:
        return v;
      case Kind::kString:
        return Value::Bool(!v.string_value().empty());
      case Kind::kList:
        return Value::Bool(ListSize(v) > 0);
      case Kind::kMap:
        return Value::Bool(MapSize(v) > 0);
      default:
        return Value::Bool(true);
    }
  }

  Value Index(const Node& n, const Value& base, const Value& index) {
    if (base.is_special()) return Extend(base, n);
    if (index.is_special()) return index;
    if (base.kind() == Kind::kList) {
      int64_t i;
      if (index.kind() == Kind::kInt) {
        i = index.int_value();
      } else if (index.kind() == Kind::kDouble &&
                 std::trunc(index.double_value()) == index.double_value() &&
                 std::abs(index.double_value()) < 1e15) {
        i = static_cast<int64_t>(index.double_value());
      } else {
        return Overload("[]");
      }
      if (i < 0 || static_cast<size_t>(i) >= ListSize(base)) {
        return Value::Error(ErrorCode::kIndexOutOfRange);
      }
      return ListAt(base, static_cast<size_t>(i));
    }
    if (base.kind() != Kind::kMap) return Overload("[]");
    Value out;
    return MapFind(base, index, &out) ? out : NoSuchKey(index);
  }

  Value Negate(const Value& v) {
    if (v.is_special()) return v;
    if (v.kind() == Kind::kDouble) return Value::Double(-v.double_value());
    if (v.kind() != Kind::kInt) return Overload("-");
    if (v.int_value() == std::numeric_limits<int64_t>::min()) {
      return Value::Error(ErrorCode::kOverflow, "-");
    }
    return Value::Int(-v.int_value());
  }

  // CEL's commutative && and ||: a deciding operand wins over unknowns and
  // errors, and an unknown over an error (Kleene logic).
  Value Logical(const Node& n) {
    const bool is_and = n.op == Op::kAnd;
    const size_t paths = scratch_->unknown_paths().size();
    Value special;
    bool has_special = false;
    for (uint32_t i = 0; i < n.b; ++i) {
      const Value v = Eval(p_.operand(n.a + i));
      if (v.kind() == Kind::kBool) {
        if (v.bool_value() != is_and) {
          // What the deciding operand absorbed is not a dependency.
          scratch_->TruncateUnknownPaths(paths);
          return v;
        }
        continue;
      }
      if (!has_special || (v.is_unknown() && !special.is_unknown())) {
        special = v.is_special() ? v : Overload(is_and ? "&&" : "||");
        has_special = true;
      }
    }
    return has_special ? special : Value::Bool(is_and);
  }

  Value Compare(const Node& n) {
    const Value a = Eval(n.a);
    if (a.is_special()) return a;
    const Value b = Eval(n.b);
    if (b.is_special()) return b;
    const std::optional<int> order = Order(a, b);
    switch (n.op) {
      case Op::kLt:
        return order ? Value::Bool(*order < 0) : Overload("<");
      case Op::kLe:
        return order ? Value::Bool(*order <= 0) : Overload("<=");
      case Op::kGt:
        return order ? Value::Bool(*order > 0) : Overload(">");
      default:
        return order ? Value::Bool(*order >= 0) : Overload(">=");
    }
  }

  Value Arithmetic(Op op, const Value& a, const Value& b) {
    if (a.is_special()) return a;
    if (b.is_special()) return b;
    const bool ints = a.kind() == Kind::kInt && b.kind() == Kind::kInt;
    const bool numbers =
        (a.kind() == Kind::kInt || a.kind() == Kind::kDouble) &&
        (b.kind() == Kind::kInt || b.kind() == Kind::kDouble);
    if (ints) {
      const int64_t x = a.int_value();
      const int64_t y = b.int_value();
      int64_t r = 0;
      switch (op) {
        case Op::kAdd:
          if (__builtin_add_overflow(x, y, &r)) break;
          return Value::Int(r);
        case Op::kSub:
          if (__builtin_sub_overflow(x, y, &r)) break;
          return Value::Int(r);
        case Op::kMul:
          if (__builtin_mul_overflow(x, y, &r)) break;
          return Value::Int(r);
        case Op::kDiv:
        case Op::kMod:
          if (y == 0) {
            return Value::Error(op == Op::kDiv ? ErrorCode::kDivisionByZero
                                               : ErrorCode::kModuloByZero);
          }
          if (x == std::numeric_limits<int64_t>::min() && y == -1) break;
          return Value::Int(op == Op::kDiv ? x / y : x % y);
        default:
          break;
      }
      return Value::Error(ErrorCode::kOverflow);
    }
    if (numbers && op != Op::kMod) {
      const double x = a.number();
      const double y = b.number();
      switch (op) {
        case Op::kAdd:
          return Value::Double(x + y);
        case Op::kSub:
          return Value::Double(x - y);
        case Op::kMul:
          return Value::Double(x * y);
        default:
          if (y == 0) return Value::Error(ErrorCode::kDivisionByZero);
          return Value::Double(x / y);
      }
    }
    if (op == Op::kAdd && a.kind() == Kind::kString &&
        b.kind() == Kind::kString) {
      std::string* s = scratch_->NewString();
      s->append(a.string_value());
      s->append(b.string_value());
      return Value::String(*s, Rep::kScratch);
    }
    if (op == Op::kAdd && a.kind() == Kind::kList && b.kind() == Kind::kList) {
      std::vector<Value>* list = scratch_->NewList();
      ForEach(a, [&](const Value& v) {
        list->push_back(v);
        return true;
      });
      ForEach(b, [&](const Value& v) {
        list->push_back(v);
        return true;
      });
      return Value::List(list->data(), list->size());
    }
    static constexpr std::string_view kNames[] = {"+", "-", "*", "/", "%"};
    return Overload(kNames[static_cast<int>(op) - static_cast<int>(Op::kAdd)]);
  }

  Value In(const Value& element, const Value& container) {
    if (element.is_special()) return element;
    if (container.is_special()) return container;
    if (container.kind() == Kind::kMap) {
      Value out;
      return Value::Bool(MapFind(container, element, &out));
    }
    if (container.kind() != Kind::kList) return Overload("in");
    Value result = Value::Bool(false);
    ForEach(container, [&](const Value& v) {
      const Value eq = Equal(element, v, 0);
      if (eq.is_error() || eq.bool_value()) {
        result = eq;
        return false;
      }
      return true;
    });
    return result;
  }

  Value List(const Node& n) {
    std::vector<Value>* list = scratch_->NewList();
    for (uint32_t i = 0; i < n.b; ++i) {
      const Value v = Eval(p_.operand(n.a + i));
      if (v.is_special()) return v;
      list->push_back(v);
    }
    return Value::List(list->data(), list->size());
  }

  Value Size(const Value& v) {
    switch (v.kind()) {
      case Kind::kError:
      case Kind::kUnknown:
        return v;
      case Kind::kString:
        return Value::Int(static_cast<int64_t>(CodePoints(v.string_value())));
      case Kind::kList:
        return Value::Int(static_cast<int64_t>(ListSize(v)));
      case Kind::kMap:
        return Value::Int(static_cast<int64_t>(MapSize(v)));
      default:
        return Overload("size");
    }
  }

  Value StringTest(Op op, const Value& a, const Value& b) {
    if (a.is_special()) return a;
    if (b.is_special()) return b;
    const std::string_view name = op == Op::kStartsWith ? "startsWith"
                                  : op == Op::kEndsWith ? "endsWith"
                                                        : "contains";
    if (a.kind() != Kind::kString || b.kind() != Kind::kString) {
      return Overload(name);
    }
    const std::string_view s = a.string_value();
    const std::string_view t = b.string_value();
    switch (op) {
      case Op::kStartsWith:
        return Value::Bool(s.starts_with(t));
      case Op::kEndsWith:
        return Value::Bool(s.ends_with(t));
      default:
        return Value::Bool(s.find(t) != std::string_view::npos);
    }
  }

  // exists: a true predicate wins over unknowns and errors; all: a false
  // one does; otherwise an unknown beats an error. exists_one: the first
  // unknown or error is the result.
  Value Comprehension(const Node& n) {
    const Value range = Eval(n.a);
    if (range.is_special()) return range;
    if (range.kind() != Kind::kList && range.kind() != Kind::kMap) {
      return Overload(n.op == Op::kAll ? "all" : "exists");
    }
    const size_t paths = scratch_->unknown_paths().size();
    Value special;
    bool has_special = false;
    bool decided = false;
    int64_t count = 0;
    const EvalScratch::Mark mark = scratch_->GetMark();
    ForEach(range, [&](const Value& element) {
      locals_[n.b] = element;
      Value v = Eval(n.c);
      // The step's result is a bool, an error whose detail or an unknown
      // whose path never points into the scratch, so its buffers can serve
      // the next step.
      scratch_->Release(mark);
      if (!v.is_special() && v.kind() != Kind::kBool) {
        v = Value::Error(ErrorCode::kNotBool, "predicate");
      }
      if (v.is_special()) {
        if (!has_special || (v.is_unknown() && !special.is_unknown())) {
          special = v;
        }
        has_special = true;
        return n.op != Op::kExistsOne;
      }
      if (n.op == Op::kExists && v.bool_value()) decided = true;
      if (n.op == Op::kAll && !v.bool_value()) decided = true;
      if (n.op == Op::kExistsOne && v.bool_value()) ++count;
      return !decided;
    });
    if (decided) {
      scratch_->TruncateUnknownPaths(paths);
      return Value::Bool(n.op == Op::kExists);
    }
    if (has_special) return special;
    return Value::Bool(n.op == Op::kExistsOne ? count == 1 : n.op == Op::kAll);
  }

  Value ToInt(const Value& v) {
    switch (v.kind()) {
      case Kind::kError:
      case Kind::kUnknown:
      case Kind::kInt:
        return v;
      case Kind::kDouble: {
        constexpr double kTwo63 = 9223372036854775808.0;
        const double d = v.double_value();
        if (!(d >= -kTwo63 && d < kTwo63)) {
          return Value::Error(ErrorCode::kOverflow, "int");
        }
        return Value::Int(static_cast<int64_t>(d));
      }
      case Kind::kString: {
        int64_t i;
        if (!absl::SimpleAtoi(Absl(v.string_value()), &i)) {
          return Value::Error(ErrorCode::kBadConversion, "int");
        }
        return Value::Int(i);
      }
      case Kind::kTimestamp:
        return Value::Int(v.seconds());
      default:
        return Overload("int");
    }
  }

  Value ToDouble(const Value& v) {
    switch (v.kind()) {
      case Kind::kError:
      case Kind::kUnknown:
      case Kind::kDouble:
        return v;
      case Kind::kInt:
        return Value::Double(static_cast<double>(v.int_value()));
      case Kind::kString: {
        double d;
        if (!absl::SimpleAtod(Absl(v.string_value()), &d)) {
          return Value::Error(ErrorCode::kBadConversion, "double");
        }
        return Value::Double(d);
      }
      default:
        return Overload("double");
    }
  }

  Value ToString(const Value& v) {
    switch (v.kind()) {
      case Kind::kError:
      case Kind::kUnknown:
      case Kind::kString:
        return v;
      case Kind::kBool:
        return Value::String(v.bool_value() ? "true" : "false");
      case Kind::kInt:
      case Kind::kDouble:
      case Kind::kTimestamp: {
        std::string* s = scratch_->NewString();
        if (v.kind() == Kind::kInt) {
          absl::StrAppend(s, v.int_value());
        } else if (v.kind() == Kind::kDouble) {
          absl::StrAppend(s, v.double_value());
        } else {
          // RFC 3339 in UTC with a Z, as CEL prints timestamps.
          s->append(absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", v.time_value(),
                                     absl::UTCTimeZone()));
        }
        return Value::String(*s, Rep::kScratch);
      }
      default:
        return Overload("string");
    }
  }

  Value TimePart(Op op, const Value& v) {
    if (v.is_special()) return v;
    if (v.kind() != Kind::kTimestamp) {
      return Overload(op == Op::kGetHours     ? "getHours"
                      : op == Op::kGetMinutes ? "getMinutes"
                                              : "getDayOfWeek");
    }
    const absl::CivilSecond civil =
        absl::ToCivilSecond(v.time_value(), absl::UTCTimeZone());
    switch (op) {
      case Op::kGetHours:
        return Value::Int(civil.hour());
      case Op::kGetMinutes:
        return Value::Int(civil.minute());
      default: {
        // absl counts from Monday = 0; CEL from Sunday = 0.
        const int monday_based =
            static_cast<int>(absl::GetWeekday(absl::CivilDay(civil)));
        return Value::Int((monday_based + 1) % 7);
      }
    }
  }

  const Program& p_;
  const Request& r_;
  EvalScratch* scratch_;
  Value* locals_;
};

}  // namespace

ConditionOutcome EvaluateCondition(const policy::Program& program,
                                   const Request& request,
                                   EvalScratch* scratch) {
  if (program.node_count() == 0) {
    return {Truth::kError, "empty condition program", {}};
  }
  scratch->Reset();
  Value* locals = scratch->Locals(program.local_count());
  const Value v =
      Evaluator(program, request, scratch, locals).Eval(program.root());
  if (v.kind() == Kind::kBool) {
    return {v.bool_value() ? Truth::kTrue : Truth::kFalse, {}, {}};
  }
  if (v.is_error()) {
    return {Truth::kError, ErrorText(v.error_code()), v.error_detail()};
  }
  if (v.is_unknown()) return {Truth::kUnknown, {}, v.unknown_path()};
  return {Truth::kError, ErrorText(ErrorCode::kNotBool), {}};
}

Value EvaluateValue(const policy::Program& program, const Request& request,
                    EvalScratch* scratch) {
  if (program.node_count() == 0) {
    return Value::Error(ErrorCode::kNoMatchingOverload, "empty program");
  }
  scratch->Reset();
  Value* locals = scratch->Locals(program.local_count());
  return Evaluator(program, request, scratch, locals).Eval(program.root());
}

}  // namespace verdict::engine
