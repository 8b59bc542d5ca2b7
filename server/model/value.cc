#include "server/model/value.h"

#include <cmath>
#include <limits>

namespace verdict::model {

Value FromProto(const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNullValue:
    case google::protobuf::Value::KIND_NOT_SET:
      return Value::Null();
    case google::protobuf::Value::kBoolValue:
      return Value::Bool(value.bool_value());
    case google::protobuf::Value::kNumberValue: {
      const double d = value.number_value();
      // 2^63 is exactly representable; anything below it and integral fits.
      constexpr double kTwo63 = 9223372036854775808.0;
      if (std::trunc(d) == d && d >= -kTwo63 && d < kTwo63) {
        return Value::Int(static_cast<int64_t>(d));
      }
      return Value::Double(d);
    }
    case google::protobuf::Value::kStringValue:
      return Value::String(value.string_value());
    case google::protobuf::Value::kStructValue:
      return Value::Map(&value.struct_value());
    case google::protobuf::Value::kListValue:
      return Value::List(&value.list_value());
  }
  return Value::Null();
}

std::string* EvalScratch::NewString() {
  if (strings_used_ == strings_.size()) {
    strings_.push_back(std::make_unique<std::string>());
  }
  std::string* s = strings_[strings_used_++].get();
  s->clear();
  return s;
}

std::vector<Value>* EvalScratch::NewList() {
  if (lists_used_ == lists_.size()) {
    lists_.push_back(std::make_unique<std::vector<Value>>());
  }
  std::vector<Value>* list = lists_[lists_used_++].get();
  list->clear();
  return list;
}

}  // namespace verdict::model
