// ParseStrictJsonObject refuses what RFC 7515/7519 call ambiguous or invalid:
// duplicate members at any depth, trailing data, non-objects, deep nesting.

#include "server/authn/strict_json.h"

#include <string>

#include "gtest/gtest.h"

namespace verdict::authn {
namespace {

TEST(StrictJsonTest, AcceptsPlainObjects) {
  auto parsed = ParseStrictJsonObject(R"({"a":1,"b":{"a":2},"c":[{"a":3}]})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)["b"]["a"], 2);
  // The same name in sibling objects is not a duplicate.
  EXPECT_TRUE(ParseStrictJsonObject(R"({"x":[{"k":1},{"k":2}]})").ok());
  // Brackets inside strings do not count as nesting.
  EXPECT_TRUE(
      ParseStrictJsonObject("{\"s\":\"" + std::string(100, '[') + "\\\"\"}")
          .ok());
}

TEST(StrictJsonTest, RefusesAmbiguousOrInvalidDocuments) {
  for (const char* bad :
       {R"({"a":1,"a":1})", R"({"o":{"k":1,"k":2}})",
        R"({"l":[{"k":1,"k":2}]})",
        R"({"a":1} )"
        "x",
        R"({"a":1}{})", "[]", "\"s\"", "1", "", "{", R"({"a":01})",
        "{\"a\":\"\xff\"}", "{'a':1}", "{\"a\":1,}", "/* c */ {}"}) {
    EXPECT_FALSE(ParseStrictJsonObject(bad).ok()) << bad;
  }
}

TEST(StrictJsonTest, CapsNestingBeforeParsing) {
  auto nested = [](int depth) {
    return "{\"v\":" + std::string(depth - 1, '[') +
           std::string(depth - 1, ']') + "}";
  };
  EXPECT_TRUE(ParseStrictJsonObject(nested(kMaxJsonDepth)).ok());
  EXPECT_FALSE(ParseStrictJsonObject(nested(kMaxJsonDepth + 1)).ok());
  EXPECT_FALSE(ParseStrictJsonObject(std::string(100000, '{')).ok());
}

TEST(StrictJsonTest, ConvertsToProtobufValues) {
  auto parsed = ParseStrictJsonObject(
      R"({"s":"x","n":3,"f":1.5,"b":true,"z":null,"l":[1,"a"],"o":{"k":"v"}})");
  ASSERT_TRUE(parsed.ok());
  google::protobuf::Value value;
  JsonToProtoValue(*parsed, &value);
  const auto& fields = value.struct_value().fields();
  EXPECT_EQ(fields.at("s").string_value(), "x");
  EXPECT_EQ(fields.at("n").number_value(), 3);
  EXPECT_EQ(fields.at("f").number_value(), 1.5);
  EXPECT_TRUE(fields.at("b").bool_value());
  EXPECT_EQ(fields.at("z").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(fields.at("l").list_value().values(1).string_value(), "a");
  EXPECT_EQ(fields.at("o").struct_value().fields().at("k").string_value(), "v");
}

}  // namespace
}  // namespace verdict::authn
