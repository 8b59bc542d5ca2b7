// Tests of the runtime Value's special kinds (errors and unknowns) and of the
// EvalScratch's record of unknown paths.

#include "server/model/value.h"

#include <string>
#include <string_view>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace verdict::model {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(ValueTest, UnknownCarriesItsPathAndIsSpecial) {
  static constexpr std::string_view kPath = "tool.arguments.path";
  const Value fresh = Value::Unknown(kPath, /*fresh=*/true);
  EXPECT_EQ(fresh.kind(), Kind::kUnknown);
  EXPECT_TRUE(fresh.is_unknown());
  EXPECT_TRUE(fresh.is_special());
  EXPECT_FALSE(fresh.is_error());
  EXPECT_EQ(fresh.unknown_path(), kPath);
  EXPECT_EQ(fresh.unknown_path().data(), kPath.data()) << "a view, no copy";
  EXPECT_TRUE(fresh.unknown_fresh());
  EXPECT_FALSE(Value::Unknown(kPath, /*fresh=*/false).unknown_fresh());
}

TEST(ValueTest, OneCompareTellsSpecialKindsFromValues) {
  EXPECT_TRUE(Value::Error(ErrorCode::kNoSuchKey, "x").is_special());
  for (const Value& v :
       {Value::Null(), Value::Bool(true), Value::Int(1), Value::Double(1),
        Value::String("s"), Value::List(nullptr, 0),
        Value::Map(static_cast<const google::protobuf::Struct*>(nullptr))}) {
    EXPECT_FALSE(v.is_special()) << static_cast<int>(v.kind());
    EXPECT_LT(v.kind(), Kind::kError);
  }
  EXPECT_GT(Kind::kUnknown, Kind::kError);
}

TEST(ValueTest, UnknownsNeitherEqualNorOrder) {
  const Value u = Value::Unknown("tool.arguments", false);
  EXPECT_FALSE(ScalarEqual(u, u).has_value());
  EXPECT_FALSE(ScalarEqual(Value::Int(1), u).has_value());
  EXPECT_FALSE(ScalarEqual(u, Value::String("x")).has_value());
  EXPECT_FALSE(Order(u, u).has_value());
  EXPECT_FALSE(Order(Value::Int(1), u).has_value());
}

TEST(EvalScratchTest, UnknownPathsAreDedupedInFirstAppearanceOrder) {
  EvalScratch scratch;
  EXPECT_THAT(scratch.unknown_paths(), IsEmpty());
  EXPECT_TRUE(scratch.AddUnknownPath("tool.arguments.b"));
  EXPECT_TRUE(scratch.AddUnknownPath("tool.arguments.a"));
  // Compared by content: a path from another pool is the same path.
  const std::string copy = "tool.arguments.b";
  EXPECT_FALSE(scratch.AddUnknownPath(copy));
  EXPECT_THAT(scratch.unknown_paths(),
              ElementsAre("tool.arguments.b", "tool.arguments.a"));
}

TEST(EvalScratchTest, DropTruncateAndReset) {
  EvalScratch scratch;
  scratch.AddUnknownPath("tool.arguments");
  scratch.DropLastUnknownPath();
  scratch.AddUnknownPath("tool.arguments.path");
  EXPECT_THAT(scratch.unknown_paths(), ElementsAre("tool.arguments.path"));
  scratch.AddUnknownPath("resource.kind");
  scratch.AddUnknownPath("resource.id");
  scratch.TruncateUnknownPaths(1);
  EXPECT_THAT(scratch.unknown_paths(), ElementsAre("tool.arguments.path"));
  // Releasing buffers keeps the paths; only Reset forgets them.
  const EvalScratch::Mark mark = scratch.GetMark();
  scratch.NewString()->append("x");
  scratch.Release(mark);
  EXPECT_THAT(scratch.unknown_paths(), ElementsAre("tool.arguments.path"));
  scratch.Reset();
  EXPECT_THAT(scratch.unknown_paths(), IsEmpty());
}

}  // namespace
}  // namespace verdict::model
