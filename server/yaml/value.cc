#include "server/yaml/value.h"

#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/common/quote.h"
#include "yaml-cpp/yaml.h"

namespace verdict::yaml {
namespace {

using google::protobuf::Value;

bool AllOf(std::string_view s, bool (*pred)(unsigned char)) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!pred(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsOctal(unsigned char c) { return c >= '0' && c <= '7'; }
bool IsDigit(unsigned char c) { return absl::ascii_isdigit(c); }
bool IsHex(unsigned char c) { return absl::ascii_isxdigit(c); }

// Parses digits in `base` into a double, saturating to infinity rather than
// failing on huge literals (Value holds doubles anyway).
double DigitsToDouble(std::string_view digits, int base) {
  double v = 0;
  for (char c : digits) {
    const int d =
        absl::ascii_isdigit(static_cast<unsigned char>(c))
            ? c - '0'
            : absl::ascii_tolower(static_cast<unsigned char>(c)) - 'a' + 10;
    v = v * base + d;
  }
  return v;
}

// The core schema's float form: [-+]? ( . digits | digits ( . digits? )? )
// ( [eE] [-+]? digits )?
bool IsCoreFloat(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t int_digits = 0;
  while (i < s.size() && IsDigit(s[i])) ++i, ++int_digits;
  size_t frac_digits = 0;
  bool dot = false;
  if (i < s.size() && s[i] == '.') {
    dot = true;
    ++i;
    while (i < s.size() && IsDigit(s[i])) ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (int_digits == 0 && !dot) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && IsDigit(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

class Converter {
 public:
  explicit Converter(ValueError* error) : error_(error) {}

  absl::Status Convert(const YAML::Node& node, Value* out, int depth) {
    if (++nodes_ > kMaxValueNodes) {
      return Fail(node, "limit",
                  absl::StrCat("YAML value has more than ", kMaxValueNodes,
                               " nodes (alias expansion?)"));
    }
    // `depth` counts the collections around `node`; a collection at depth
    // kMaxValueDepth would be one level too many.
    if (node.IsSequence() || node.IsMap()) {
      if (depth >= kMaxValueDepth) {
        return Fail(node, "limit",
                    absl::StrCat("YAML value nests deeper than ",
                                 kMaxValueDepth, " levels"));
      }
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        out->set_null_value(google::protobuf::NULL_VALUE);
        return absl::OkStatus();
      case YAML::NodeType::Scalar:
        ConvertScalar(node, out);
        return absl::OkStatus();
      case YAML::NodeType::Sequence: {
        auto* list = out->mutable_list_value();
        for (const YAML::Node& child : node) {
          absl::Status s = Convert(child, list->add_values(), depth + 1);
          if (!s.ok()) return s;
        }
        return absl::OkStatus();
      }
      case YAML::NodeType::Map: {
        auto* fields = out->mutable_struct_value()->mutable_fields();
        for (const auto& entry : node) {
          const YAML::Node key_node = entry.first;
          const std::string key =
              key_node.IsScalar() ? key_node.Scalar() : YAML::Dump(key_node);
          if (fields->count(key) != 0) {
            return Fail(key_node, "duplicate_key",
                        absl::StrCat("duplicate key ", QuoteToken(key)));
          }
          Value& child = (*fields)[key];
          absl::Status s = Convert(entry.second, &child, depth + 1);
          if (!s.ok()) return s;
        }
        return absl::OkStatus();
      }
    }
    return absl::InvalidArgumentError("unknown YAML node type");
  }

 private:
  static void ConvertScalar(const YAML::Node& node, Value* out) {
    constexpr char kCoreTag[] = "tag:yaml.org,2002:";
    const std::string& tag = node.Tag();
    // yaml-cpp tags a plain scalar "?" and a quoted or block scalar "!"; an
    // explicit core tag other than !!str (e.g. !!int) asks for resolution.
    const bool resolve = tag == "?" || (absl::StartsWith(tag, kCoreTag) &&
                                        tag != absl::StrCat(kCoreTag, "str"));
    if (resolve) {
      *out = ResolvePlainScalar(node.Scalar());
    } else {
      out->set_string_value(node.Scalar());
    }
  }

  absl::Status Fail(const YAML::Node& node, std::string_view code,
                    std::string message) {
    if (error_ != nullptr) {
      error_->mark = node.Mark();
      error_->code = std::string(code);
    }
    return absl::InvalidArgumentError(std::move(message));
  }

  ValueError* error_;
  int nodes_ = 0;
};

}  // namespace

Value ResolvePlainScalar(std::string_view s) {
  Value v;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
    v.set_null_value(google::protobuf::NULL_VALUE);
    return v;
  }
  if (s == "true" || s == "True" || s == "TRUE") {
    v.set_bool_value(true);
    return v;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    v.set_bool_value(false);
    return v;
  }
  if (s.size() > 2 && s[0] == '0' && s[1] == 'x' && AllOf(s.substr(2), IsHex)) {
    v.set_number_value(DigitsToDouble(s.substr(2), 16));
    return v;
  }
  if (s.size() > 2 && s[0] == '0' && s[1] == 'o' &&
      AllOf(s.substr(2), IsOctal)) {
    v.set_number_value(DigitsToDouble(s.substr(2), 8));
    return v;
  }
  {
    std::string_view digits = s;
    const bool negative = !digits.empty() && digits[0] == '-';
    if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
      digits.remove_prefix(1);
    }
    if (AllOf(digits, IsDigit)) {
      const double magnitude = DigitsToDouble(digits, 10);
      v.set_number_value(negative ? -magnitude : magnitude);
      return v;
    }
  }
  {
    std::string_view rest = s;
    bool negative = false;
    if (!rest.empty() && (rest[0] == '-' || rest[0] == '+')) {
      negative = rest[0] == '-';
      rest.remove_prefix(1);
    }
    if (rest == ".inf" || rest == ".Inf" || rest == ".INF") {
      const double inf = std::numeric_limits<double>::infinity();
      v.set_number_value(negative ? -inf : inf);
      return v;
    }
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") {
    v.set_number_value(std::numeric_limits<double>::quiet_NaN());
    return v;
  }
  double d = 0;
  if (IsCoreFloat(s) &&
      absl::SimpleAtod(absl::string_view(s.data(), s.size()), &d)) {
    v.set_number_value(d);
    return v;
  }
  v.set_string_value(std::string(s));
  return v;
}

absl::Status ToProtoValue(const YAML::Node& node, Value* out,
                          ValueError* error) {
  out->Clear();
  Converter converter(error);
  try {
    return converter.Convert(node, out, 0);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot convert YAML: ", e.what()));
  }
}

absl::StatusOr<Value> ParseProtoValue(std::string_view text) {
  YAML::Node node;
  try {
    node = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid YAML value at line ", e.mark.line + 1,
                     ", column ", e.mark.column + 1, ": ", e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid YAML value: ", e.what()));
  }
  Value value;
  absl::Status status = ToProtoValue(node, &value);
  if (!status.ok()) return status;
  return value;
}

}  // namespace verdict::yaml
