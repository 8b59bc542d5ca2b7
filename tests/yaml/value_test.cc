// YAML -> protobuf Value: the YAML 1.2 core schema for plain scalars, quoted
// scalars as strings, lists and maps, non-string keys, and the limits that
// stop hostile YAML (deep nesting, alias bombs, duplicate keys).

#include "server/yaml/value.h"

#include <cmath>
#include <string>

#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace verdict::yaml {
namespace {

using google::protobuf::Value;

Value Parse(std::string_view text) {
  absl::StatusOr<Value> value = ParseProtoValue(text);
  EXPECT_TRUE(value.ok()) << text << ": " << value.status();
  return value.ok() ? *value : Value();
}

void ExpectNumber(std::string_view text, double expected) {
  const Value v = Parse(text);
  ASSERT_EQ(v.kind_case(), Value::kNumberValue) << text;
  EXPECT_EQ(v.number_value(), expected) << text;
}

void ExpectString(std::string_view text, std::string_view expected) {
  const Value v = Parse(text);
  ASSERT_EQ(v.kind_case(), Value::kStringValue) << text;
  EXPECT_EQ(v.string_value(), expected) << text;
}

void ExpectBool(std::string_view text, bool expected) {
  const Value v = Parse(text);
  ASSERT_EQ(v.kind_case(), Value::kBoolValue) << text;
  EXPECT_EQ(v.bool_value(), expected) << text;
}

void ExpectNull(std::string_view text) {
  EXPECT_EQ(Parse(text).kind_case(), Value::kNullValue) << text;
}

TEST(YamlValueTest, CoreSchemaIntegers) {
  ExpectNumber("3", 3);
  ExpectNumber("-7", -7);
  ExpectNumber("+12", 12);
  ExpectNumber("012", 12);
  ExpectNumber("0x1F", 31);
  ExpectNumber("0o17", 15);
}

TEST(YamlValueTest, CoreSchemaFloats) {
  ExpectNumber("1.5", 1.5);
  ExpectNumber("-0.25", -0.25);
  ExpectNumber(".5", 0.5);
  ExpectNumber("1.", 1);
  ExpectNumber("1e3", 1000);
  ExpectNumber("2.5E-1", 0.25);
  ExpectNumber(".inf", INFINITY);
  ExpectNumber("-.Inf", -INFINITY);
  ExpectNumber("+.INF", INFINITY);
  const Value nan = Parse(".nan");
  ASSERT_EQ(nan.kind_case(), Value::kNumberValue);
  EXPECT_TRUE(std::isnan(nan.number_value()));
}

TEST(YamlValueTest, CoreSchemaBooleansAndNulls) {
  ExpectBool("true", true);
  ExpectBool("True", true);
  ExpectBool("TRUE", true);
  ExpectBool("false", false);
  ExpectBool("FALSE", false);
  ExpectNull("null");
  ExpectNull("~");
  ExpectNull("NULL");
  ExpectNull("");
}

TEST(YamlValueTest, EverythingElseIsAString) {
  ExpectString("hello", "hello");
  ExpectString("yes", "yes");  // YAML 1.1 booleans are strings in 1.2
  ExpectString("0x", "0x");
  ExpectString("1_000", "1_000");
  ExpectString("1e", "1e");
  ExpectString("0o8", "0o8");
  ExpectString(".", ".");
  ExpectString("spiffe://corp/agent", "spiffe://corp/agent");
}

TEST(YamlValueTest, QuotedAndTaggedScalarsAreStrings) {
  ExpectString("'3'", "3");
  ExpectString("\"true\"", "true");
  ExpectString("\"\"", "");
  ExpectString("!!str 3", "3");
  ExpectNumber("!!int 3", 3);
}

TEST(YamlValueTest, ListsAndMaps) {
  const Value list = Parse("[a, 3, true, ~]");
  ASSERT_EQ(list.kind_case(), Value::kListValue);
  ASSERT_EQ(list.list_value().values_size(), 4);
  EXPECT_EQ(list.list_value().values(0).string_value(), "a");
  EXPECT_EQ(list.list_value().values(1).number_value(), 3);
  EXPECT_TRUE(list.list_value().values(2).bool_value());
  EXPECT_EQ(list.list_value().values(3).kind_case(), Value::kNullValue);

  const Value map = Parse("{k: v, n: 1, nested: {list: [x]}}");
  ASSERT_EQ(map.kind_case(), Value::kStructValue);
  const auto& fields = map.struct_value().fields();
  EXPECT_EQ(fields.at("k").string_value(), "v");
  EXPECT_EQ(fields.at("n").number_value(), 1);
  EXPECT_EQ(fields.at("nested")
                .struct_value()
                .fields()
                .at("list")
                .list_value()
                .values(0)
                .string_value(),
            "x");
}

TEST(YamlValueTest, NonStringKeysAreStringified) {
  const Value map = Parse("{1: a, true: b, 2.5: c}");
  const auto& fields = map.struct_value().fields();
  EXPECT_EQ(fields.at("1").string_value(), "a");
  EXPECT_EQ(fields.at("true").string_value(), "b");
  EXPECT_EQ(fields.at("2.5").string_value(), "c");
}

TEST(YamlValueTest, SyntaxErrorsNameTheirPosition) {
  absl::StatusOr<Value> value = ParseProtoValue("[a, b");
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(value.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(value.status().message().find("line 1"), absl::string_view::npos)
      << value.status();
}

TEST(YamlValueTest, DeepNestingIsRefused) {
  const std::string ok =
      std::string(kMaxValueDepth, '[') + std::string(kMaxValueDepth, ']');
  EXPECT_TRUE(ParseProtoValue(ok).ok());
  const std::string deep = std::string(kMaxValueDepth + 1, '[') +
                           std::string(kMaxValueDepth + 1, ']');
  absl::StatusOr<Value> value = ParseProtoValue(deep);
  ASSERT_FALSE(value.ok());
  EXPECT_NE(value.status().message().find("deeper"), absl::string_view::npos);
  // Deeper than yaml-cpp's own guard: still a clean error.
  const std::string very_deep = std::string(5000, '[') + std::string(5000, ']');
  EXPECT_FALSE(ParseProtoValue(very_deep).ok());
}

TEST(YamlValueTest, AliasBombIsRefused) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char previous = 'a';
  for (char name = 'b'; name <= 'j'; ++name) {
    bomb += std::string(1, name) + ": &" + name + " [";
    for (int i = 0; i < 10; ++i) {
      bomb += std::string(i ? ", *" : "*") + previous;
    }
    bomb += "]\n";
    previous = name;
  }
  absl::StatusOr<Value> value = ParseProtoValue(bomb);
  ASSERT_FALSE(value.ok());
  EXPECT_NE(value.status().message().find("nodes"), absl::string_view::npos)
      << value.status();
}

TEST(YamlValueTest, RecursiveAliasIsRefused) {
  // yaml-cpp lets an anchored collection contain itself.
  absl::StatusOr<Value> value = ParseProtoValue("&a [1, *a]");
  EXPECT_FALSE(value.ok());
}

TEST(YamlValueTest, DuplicateKeysAreRefused) {
  absl::StatusOr<Value> value = ParseProtoValue("{a: 1, b: 2, a: 3}");
  ASSERT_FALSE(value.ok());
  EXPECT_NE(value.status().message().find("duplicate key \"a\""),
            absl::string_view::npos)
      << value.status();
}

}  // namespace
}  // namespace verdict::yaml
