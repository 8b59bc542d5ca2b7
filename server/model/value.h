// The runtime value of the condition interpreter, and its per-thread scratch.
//
// A Value is a small trivially-copyable handle: scalars inline, strings as a
// view, lists and maps as a pointer to whatever already holds them (a
// Request's repeated field or protobuf Struct, a Program's constant pool, or
// an EvalScratch buffer). A Value never owns memory, so making one never
// allocates; it is valid as long as what it points into.
//
// Errors are values too (Kind::kError) carrying a static code and a detail
// view naming the offending key, field or operator. So are unknowns
// (Kind::kUnknown): what a listing cannot know yet, such as a call's
// arguments, carrying the attribute path it stands for ("tool.arguments.path")
// as a view into static text or a Program's pools, never into an EvalScratch,
// so that it outlives the evaluation like an error's detail.
//
// EvalScratch holds the few buffers evaluation may need (string
// concatenation, list literals with dynamic elements, comprehension
// variables) and the paths of the unknowns an evaluation created. Its buffers
// keep their capacity between evaluations. One per thread; not thread-safe.

#ifndef VERDICT_SERVER_MODEL_VALUE_H_
#define VERDICT_SERVER_MODEL_VALUE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/struct.pb.h"

namespace verdict::model {

enum class Kind : uint8_t {
  kNull,
  kBool,
  kInt,
  kDouble,
  kString,
  kTimestamp,
  kList,
  kMap,
  // The two special kinds come last, so that `kind() >= Kind::kError` tests
  // "error or unknown" with one compare.
  kError,
  kUnknown,
};

// How a string, list or map is stored, i.e. what Value's pointer means.
enum class Rep : uint8_t {
  kInline,   // scalars, errors, unknowns, strings that outlive the evaluation
  kScratch,  // a string in an EvalScratch: valid until its next Reset()
  kStringList,  // list: const google::protobuf::RepeatedPtrField<string>*
  kProtoList,   // list: const google::protobuf::ListValue*
  kArray,       // list: const Value* with size elements
  kStruct,      // map: const google::protobuf::Struct* (null: empty)
  kPairs,       // map: const ValueMap* (constant map literals)
};

// Runtime error codes; their text is ErrorText(code).
enum class ErrorCode : uint8_t {
  kNoSuchKey,           // a map has no such key
  kAbsent,              // actor, grant or resource is not in the request
  kIndexOutOfRange,     // a list index outside [0, size)
  kOverflow,            // int64 overflow, or a conversion out of range
  kDivisionByZero,      // x / 0
  kModuloByZero,        // x % 0
  kNoMatchingOverload,  // an operator or function applied to wrong kinds
  kNotBool,             // the condition (or a predicate) is not a bool
  kBadConversion,       // int("x"), double("x")
  kTooDeep,             // equality over values nested beyond the budget
};

inline std::string_view ErrorText(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNoSuchKey:
      return "no such key";
    case ErrorCode::kAbsent:
      return "absent from the request";
    case ErrorCode::kIndexOutOfRange:
      return "index out of range";
    case ErrorCode::kOverflow:
      return "integer overflow";
    case ErrorCode::kDivisionByZero:
      return "division by zero";
    case ErrorCode::kModuloByZero:
      return "modulo by zero";
    case ErrorCode::kNoMatchingOverload:
      return "no matching overload";
    case ErrorCode::kNotBool:
      return "not a bool";
    case ErrorCode::kBadConversion:
      return "invalid conversion";
    case ErrorCode::kTooDeep:
      return "value nested too deep";
  }
  return "error";
}

struct ValueMap;

class Value {
 public:
  using StringList = google::protobuf::RepeatedPtrField<std::string>;

  constexpr Value() = default;

  static Value Null() { return Value(); }
  static Value Bool(bool b) {
    Value v(Kind::kBool);
    v.u_.b = b;
    return v;
  }
  static Value Int(int64_t i) {
    Value v(Kind::kInt);
    v.u_.i = i;
    return v;
  }
  static Value Double(double d) {
    Value v(Kind::kDouble);
    v.u_.d = d;
    return v;
  }
  static Value String(std::string_view s, Rep rep = Rep::kInline) {
    Value v(Kind::kString, rep);
    v.u_.p = s.data();
    v.size_ = s.size();
    return v;
  }
  static Value Timestamp(absl::Time t) {
    Value v(Kind::kTimestamp);
    v.u_.i = absl::ToUnixSeconds(t);  // saturates for the infinities
    if (t != absl::InfiniteFuture() && t != absl::InfinitePast()) {
      v.aux_ = static_cast<uint32_t>(
          absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(v.u_.i)));
    }
    return v;
  }
  static Value List(const StringList* list) {
    Value v(Kind::kList, Rep::kStringList);
    v.u_.p = list;
    return v;
  }
  static Value List(const google::protobuf::ListValue* list) {
    Value v(Kind::kList, Rep::kProtoList);
    v.u_.p = list;
    return v;
  }
  static Value List(const Value* elements, size_t size) {
    Value v(Kind::kList, Rep::kArray);
    v.u_.p = elements;
    v.size_ = size;
    return v;
  }
  static Value Map(const google::protobuf::Struct* map) {
    Value v(Kind::kMap, Rep::kStruct);
    v.u_.p = map;
    return v;
  }
  static Value Map(const ValueMap* map) {
    Value v(Kind::kMap, Rep::kPairs);
    v.u_.p = map;
    return v;
  }
  static Value Error(ErrorCode code, std::string_view detail = {}) {
    Value v(Kind::kError);
    v.aux_ = static_cast<uint32_t>(code);
    v.u_.p = detail.data();
    v.size_ = detail.size();
    return v;
  }

  // `path` must outlive every evaluation that may report it (static text or
  // a Program's pool). `fresh`: creating this value appended `path` to the
  // EvalScratch's unknown paths as their last entry, so that a selection
  // that extends the path can replace the entry instead of adding one.
  static Value Unknown(std::string_view path, bool fresh) {
    Value v(Kind::kUnknown);
    v.aux_ = fresh ? 1 : 0;
    v.u_.p = path.data();
    v.size_ = path.size();
    return v;
  }

  Kind kind() const { return kind_; }
  Rep rep() const { return rep_; }
  bool is_error() const { return kind_ == Kind::kError; }
  bool is_unknown() const { return kind_ == Kind::kUnknown; }
  // An error or an unknown: what strict operators pass on unchanged.
  bool is_special() const { return kind_ >= Kind::kError; }

  bool bool_value() const { return u_.b; }
  int64_t int_value() const { return u_.i; }
  double double_value() const { return u_.d; }
  // kInt or kDouble as a double.
  double number() const {
    return kind_ == Kind::kInt ? static_cast<double>(u_.i) : u_.d;
  }
  std::string_view string_value() const {
    return {static_cast<const char*>(u_.p), size_};
  }
  absl::Time time_value() const {
    return absl::FromUnixSeconds(u_.i) + absl::Nanoseconds(aux_);
  }
  int64_t seconds() const { return u_.i; }
  uint32_t nanos() const { return aux_; }

  const StringList* string_list() const {
    return static_cast<const StringList*>(u_.p);
  }
  const google::protobuf::ListValue* proto_list() const {
    return static_cast<const google::protobuf::ListValue*>(u_.p);
  }
  const Value* array() const { return static_cast<const Value*>(u_.p); }
  const google::protobuf::Struct* proto_struct() const {
    return static_cast<const google::protobuf::Struct*>(u_.p);
  }
  const ValueMap* pairs() const { return static_cast<const ValueMap*>(u_.p); }
  size_t array_size() const { return size_; }

  ErrorCode error_code() const { return static_cast<ErrorCode>(aux_); }
  std::string_view error_detail() const {
    return {static_cast<const char*>(u_.p), size_};
  }
  std::string_view unknown_path() const {
    return {static_cast<const char*>(u_.p), size_};
  }
  bool unknown_fresh() const { return aux_ != 0; }

 private:
  constexpr explicit Value(Kind kind, Rep rep = Rep::kInline)
      : kind_(kind), rep_(rep) {}

  Kind kind_ = Kind::kNull;
  Rep rep_ = Rep::kInline;
  uint32_t aux_ = 0;  // timestamp nanos, the ErrorCode, or unknown_fresh()
  union {
    bool b;
    int64_t i;  // kInt, or timestamp seconds
    double d;
    const void* p;
  } u_ = {.p = nullptr};
  size_t size_ = 0;  // string bytes, array elements, detail or path bytes
};

// A constant map literal: few entries, looked up linearly.
struct ValueMap {
  std::vector<std::pair<Value, Value>> entries;
};

// Equality of two scalars (null, bool, int, double, string, timestamp): ints
// and doubles compare numerically; different kinds are unequal. Empty when
// either is a list, map, error or unknown.
inline std::optional<bool> ScalarEqual(const Value& a, const Value& b) {
  const auto numeric = [](Kind k) {
    return k == Kind::kInt || k == Kind::kDouble;
  };
  if (numeric(a.kind()) && numeric(b.kind())) {
    if (a.kind() == Kind::kInt && b.kind() == Kind::kInt) {
      return a.int_value() == b.int_value();
    }
    return a.number() == b.number();
  }
  switch (a.kind()) {
    case Kind::kList:
    case Kind::kMap:
    case Kind::kError:
    case Kind::kUnknown:
      return std::nullopt;
    default:
      break;
  }
  switch (b.kind()) {
    case Kind::kList:
    case Kind::kMap:
    case Kind::kError:
    case Kind::kUnknown:
      return std::nullopt;
    default:
      break;
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kNull:
      return true;
    case Kind::kBool:
      return a.bool_value() == b.bool_value();
    case Kind::kString:
      return a.string_value() == b.string_value();
    case Kind::kTimestamp:
      return a.seconds() == b.seconds() && a.nanos() == b.nanos();
    default:
      return std::nullopt;
  }
}

// Ordering of two values: negative, zero or positive. Numbers compare
// numerically, strings bytewise, bools false < true, timestamps by time.
// Empty when the kinds cannot be ordered against each other (or a NaN).
inline std::optional<int> Order(const Value& a, const Value& b) {
  const auto sign = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  const auto numeric = [](Kind k) {
    return k == Kind::kInt || k == Kind::kDouble;
  };
  if (numeric(a.kind()) && numeric(b.kind())) {
    if (a.kind() == Kind::kInt && b.kind() == Kind::kInt) {
      return sign(a.int_value(), b.int_value());
    }
    const double x = a.number();
    const double y = b.number();
    if (x != x || y != y) return std::nullopt;
    return sign(x, y);
  }
  if (a.kind() != b.kind()) return std::nullopt;
  switch (a.kind()) {
    case Kind::kBool:
      return sign(a.bool_value(), b.bool_value());
    case Kind::kString:
      return a.string_value().compare(b.string_value()) < 0
                 ? -1
                 : (a.string_value() == b.string_value() ? 0 : 1);
    case Kind::kTimestamp:
      return a.seconds() != b.seconds() ? sign(a.seconds(), b.seconds())
                                        : sign(a.nanos(), b.nanos());
    default:
      return std::nullopt;
  }
}

// Reads a protobuf Value as a runtime Value: an integral number that fits
// int64 reads as kInt (JSON cannot tell 1 from 1.0), other numbers as kDouble.
Value FromProto(const google::protobuf::Value& value);

class EvalScratch {
 public:
  EvalScratch() = default;
  EvalScratch(EvalScratch&&) = default;
  EvalScratch& operator=(EvalScratch&&) = default;

  // Makes every buffer reusable and forgets the unknown paths; called at the
  // start of each evaluation.
  void Reset() {
    strings_used_ = 0;
    lists_used_ = 0;
    unknown_paths_.clear();
  }
  // Buffers handed out after a Mark can be taken back with Release(mark),
  // e.g. after each comprehension step, whose bool result refers to none.
  // Unknown paths are not buffers: a Release keeps them.
  struct Mark {
    size_t strings = 0;
    size_t lists = 0;
  };
  Mark GetMark() const { return {strings_used_, lists_used_}; }
  void Release(Mark mark) {
    strings_used_ = mark.strings;
    lists_used_ = mark.lists;
  }
  // An empty string (with its old capacity) valid until the next Reset().
  std::string* NewString();
  // An empty list (with its old capacity) valid until the next Reset().
  std::vector<Value>* NewList();
  // `n` comprehension variable slots.
  Value* Locals(size_t n) {
    if (locals_.size() < n) locals_.resize(n);
    return locals_.data();
  }

  // The attribute paths of the unknowns created since Reset(), without
  // duplicates, in the order they first appeared.
  const std::vector<std::string_view>& unknown_paths() const {
    return unknown_paths_;
  }
  // Adds `path` unless it is already there; true when it was added (it is
  // then the last entry).
  bool AddUnknownPath(std::string_view path) {
    for (std::string_view p : unknown_paths_) {
      if (p == path) return false;
    }
    unknown_paths_.push_back(path);
    return true;
  }
  // Removes the last entry; for an unknown that a longer path replaces.
  void DropLastUnknownPath() { unknown_paths_.pop_back(); }
  // Forgets the paths added after the first `n`: the unknowns an operator
  // absorbed (`unknown && false`) are not what its result depends on.
  void TruncateUnknownPaths(size_t n) { unknown_paths_.resize(n); }

 private:
  // unique_ptr keeps handed-out buffers in place while the pools grow.
  std::vector<std::unique_ptr<std::string>> strings_;
  std::vector<std::unique_ptr<std::vector<Value>>> lists_;
  size_t strings_used_ = 0;
  size_t lists_used_ = 0;
  std::vector<Value> locals_;
  std::vector<std::string_view> unknown_paths_;
};

}  // namespace verdict::model

#endif  // VERDICT_SERVER_MODEL_VALUE_H_
