// server/yaml/reader.h: parsing without throwing (syntax, encoding, the
// yaml-cpp comma loop, one-document files), mappings against a schema
// (unknown, duplicate, non-string and missing keys), every typed value with
// its bad_type and invalid_value cases, and every error of a file collected
// in one pass with its exact line and column.

#include "server/yaml/reader.h"

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/yaml/diagnostic.h"
#include "server/yaml/value.h"

namespace verdict::yaml {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr std::string_view kServerKeys[] = {"name",    "port", "debug",
                                            "timeout", "tags", "mode"};
constexpr std::string_view kServerRequired[] = {"name", "port"};
constexpr Schema kServer = {.name = "server",
                            .prefix = "server.",
                            .keys = kServerKeys,
                            .required = kServerRequired};

std::vector<std::string> Strings(const std::vector<Diagnostic>& diagnostics) {
  std::vector<std::string> out;
  for (const Diagnostic& d : diagnostics) out.push_back(d.ToString());
  return out;
}

// What reading `text`'s one document as a kServer mapping reports; every
// field is read with the type the key has in the schema.
struct Server {
  std::string name = "unset";
  int port = -1;
  bool debug = false;
  absl::Duration timeout = absl::Seconds(7);
  std::vector<Scalar> tags;
  size_t mode = 99;
};

std::vector<Diagnostic> ReadServer(const std::string& text,
                                   Server* server = nullptr) {
  Server ignored;
  if (server == nullptr) server = &ignored;
  std::vector<Diagnostic> diagnostics;
  Reader reader("s.yaml", text, &diagnostics);
  std::optional<YAML::Node> document = reader.Document();
  if (!document.has_value()) return diagnostics;
  reader.Walk([&] {
    reader.ForEachField(*document, kServer, [&](const Field& field) {
      if (field.key == "name") {
        reader.NonEmptyString(field, &server->name);
      } else if (field.key == "port") {
        reader.Int(field, 1, 65535, &server->port);
      } else if (field.key == "debug") {
        reader.Bool(field, &server->debug);
      } else if (field.key == "timeout") {
        reader.Duration(field, absl::Milliseconds(10), absl::Minutes(1),
                        &server->timeout);
      } else if (field.key == "tags") {
        reader.StringList(field, &server->tags);
      } else {
        reader.OneOf(field, {"fast", "safe"}, &server->mode);
      }
    });
  });
  EXPECT_EQ(reader.error_count(), static_cast<int>(diagnostics.size()));
  return diagnostics;
}

TEST(ReaderTest, ReadsEveryTypeOfAWellFormedMapping) {
  Server server;
  EXPECT_THAT(ReadServer("name: api\nport: 8080\ndebug: true\ntimeout: 1m\n"
                         "tags: [a, 'b c']\nmode: safe\n",
                         &server),
              IsEmpty());
  EXPECT_EQ(server.name, "api");
  EXPECT_EQ(server.port, 8080);
  EXPECT_TRUE(server.debug);
  EXPECT_EQ(server.timeout, absl::Minutes(1));
  ASSERT_THAT(server.tags, SizeIs(2));
  EXPECT_EQ(server.tags[1].text, "b c");
  EXPECT_EQ(server.tags[1].position.line, 5);
  EXPECT_EQ(server.tags[1].position.column, 11);
  EXPECT_EQ(server.mode, 1u);
}

TEST(ReaderTest, EveryErrorOfAFileIsCollectedWithItsPosition) {
  Server server;
  const std::vector<Diagnostic> d = ReadServer(
      "name: \"\"\nport: 99999\ndebug: maybe\ntimeout: 30\n"
      "tags: [ok, [nested]]\nmode: slow\ncolour: blue\n",
      &server);
  EXPECT_THAT(
      Strings(d),
      ElementsAre(
          "s.yaml:1:7: error[invalid_value]: \"server.name\" must not be "
          "empty",
          "s.yaml:2:7: error[invalid_value]: \"server.port\" must be from 1 "
          "to 65535, got 99999",
          "s.yaml:3:8: error[bad_type]: \"server.debug\" must be true or "
          "false, got \"maybe\"",
          "s.yaml:4:10: error[bad_type]: \"server.timeout\" must be a "
          "duration with a unit (500ms, 30s, 15m, 1h), got \"30\"",
          "s.yaml:5:12: error[bad_type]: entries of \"server.tags\" must be "
          "strings, got a list",
          "s.yaml:6:7: error[invalid_value]: \"server.mode\" must be fast or "
          "safe, got \"slow\"",
          "s.yaml:7:1: error[unknown_key]: unknown key \"colour\" in server; "
          "allowed: name, port, debug, timeout, tags, mode"));
  // A value that fails leaves its destination as it was.
  EXPECT_EQ(server.name, "unset");
  EXPECT_EQ(server.port, -1);
  EXPECT_EQ(server.timeout, absl::Seconds(7));
  EXPECT_EQ(server.mode, 99u);
  ASSERT_THAT(server.tags, SizeIs(1));  // the good entry is kept
  EXPECT_EQ(server.tags[0].text, "ok");
}

TEST(ReaderTest, DuplicateNonStringAndMissingKeys) {
  EXPECT_THAT(
      Strings(ReadServer("name: a\n[x]: 1\nname: b\n")),
      ElementsAre("s.yaml:2:1: error[bad_type]: keys in server must be "
                  "strings, got a list",
                  "s.yaml:3:1: error[duplicate_key]: duplicate key \"name\" "
                  "in server (first at line 1)",
                  "s.yaml:1:1: error[missing_key]: missing required key "
                  "\"port\" in server"));
}

TEST(ReaderTest, WrongYamlTypesNameWhatWasExpectedAndWhatCame) {
  EXPECT_THAT(
      Strings(ReadServer("name: [a]\nport: {p: 1}\ndebug: [x]\ntags: t\n"
                         "mode: [fast]\n")),
      ElementsAre(
          "s.yaml:1:7: error[bad_type]: \"server.name\" must be a string, got "
          "a list",
          "s.yaml:2:7: error[bad_type]: \"server.port\" must be an integer, "
          "got a map",
          "s.yaml:3:8: error[bad_type]: \"server.debug\" must be true or "
          "false, got a list",
          "s.yaml:4:7: error[bad_type]: \"server.tags\" must be a list of "
          "strings, got a scalar",
          "s.yaml:5:7: error[bad_type]: \"server.mode\" must be a string, got "
          "a list"));
  // An empty value has no mark of its own: the error points at its key.
  EXPECT_THAT(Strings(ReadServer("port: 1\nname:\n")),
              ElementsAre("s.yaml:2:1: error[bad_type]: \"server.name\" must "
                          "be a string, got null"));
  EXPECT_THAT(Strings(ReadServer("- a\n")),
              ElementsAre("s.yaml:1:1: error[bad_type]: a server must be a "
                          "map, got a list"));
  EXPECT_THAT(Strings(ReadServer("name: a\nport: 1.5\n")),
              ElementsAre("s.yaml:2:7: error[bad_type]: \"server.port\" must "
                          "be an integer, got \"1.5\""));
}

TEST(ReaderTest, DurationsNeedAUnitAndARange) {
  auto timeout_error = [](const std::string& value) {
    const std::vector<Diagnostic> d =
        ReadServer("name: a\nport: 1\ntimeout: " + value + "\n");
    return d.empty() ? std::string("ok") : d[0].code + ": " + d[0].message;
  };
  EXPECT_EQ(timeout_error("500ms"), "ok");
  EXPECT_EQ(timeout_error("1m"), "ok");
  EXPECT_THAT(timeout_error("0"), HasSubstr("bad_type"));
  EXPECT_THAT(timeout_error("inf"), HasSubstr("bad_type"));
  EXPECT_THAT(timeout_error("thirty seconds"), HasSubstr("bad_type"));
  EXPECT_EQ(timeout_error("5ms"),
            "invalid_value: \"server.timeout\" must be from 10ms to 1m, got "
            "5ms");
  EXPECT_EQ(timeout_error("-1s"),
            "invalid_value: \"server.timeout\" must be from 10ms to 1m, got "
            "-1s");
  EXPECT_EQ(timeout_error("1h30m"),
            "invalid_value: \"server.timeout\" must be from 10ms to 1m, got "
            "1h30m");
}

TEST(ReaderTest, SyntaxErrorsArePositioned) {
  std::vector<Diagnostic> d = ReadServer("name: [a\nport: 1\n");
  ASSERT_THAT(d, SizeIs(1));
  EXPECT_EQ(d[0].code, "yaml");
  EXPECT_EQ(d[0].line, 2);
  EXPECT_EQ(d[0].column, 5);
  EXPECT_EQ(d[0].ToString(),
            "s.yaml:2:5: error[yaml]: end of sequence flow not found");
}

// yaml-cpp 0.7's LoadAll never returns when a document starts with a ','.
TEST(ReaderTest, CommaWhereADocumentStartsIsAnErrorNotAHang) {
  for (const std::string text : {",", ",\n", "[a]\n,", "a: 1\n---\n,\n"}) {
    const std::vector<Diagnostic> d = ReadServer(text);
    ASSERT_THAT(d, SizeIs(1)) << text;
    EXPECT_EQ(d[0].code, "yaml") << text;
    EXPECT_GT(d[0].line, 0) << text;
  }
  EXPECT_THAT(Strings(ReadServer(",")),
              ElementsAre("s.yaml:1:1: error[yaml]: unexpected ',' outside a "
                          "flow collection"));
}

TEST(ReaderTest, InvalidUtf8IsAnEncodingErrorAtItsByte) {
  EXPECT_THAT(Strings(ReadServer("name: a\nport: caf\xC3\n")),
              ElementsAre("s.yaml:2:10: error[encoding]: invalid UTF-8 (byte "
                          "0xC3)"));
}

TEST(ReaderTest, ByteOrderMarkIsSkippedAndPositionsCountAfterIt) {
  std::vector<Diagnostic> diagnostics;
  const std::string text = "\xEF\xBB\xBFname: a\nbad: 1\n";
  Reader reader("s.yaml", text, &diagnostics);
  EXPECT_EQ(reader.text(), "name: a\nbad: 1\n");
  EXPECT_THAT(Strings(ReadServer(text)),
              ElementsAre(HasSubstr("s.yaml:2:1: error[unknown_key]"),
                          HasSubstr("s.yaml:1:1: error[missing_key]")));
}

TEST(ReaderTest, DocumentsSkipEmptyOnesButKeepAnExplicitNull) {
  std::vector<Diagnostic> diagnostics;
  Reader reader("s.yaml",
                "---\n# only a comment\n---\na: 1\n---\n---\n~\n...\n",
                &diagnostics);
  const std::vector<YAML::Node> documents = reader.Documents();
  EXPECT_THAT(diagnostics, IsEmpty());
  ASSERT_THAT(documents, SizeIs(2));
  EXPECT_TRUE(documents[0].IsMap());
  EXPECT_TRUE(documents[1].IsNull());
  EXPECT_EQ(PositionOf(documents[1]).line, 7);
}

TEST(ReaderTest, DocumentIsTheFilesOnlyOne) {
  for (const std::string empty : {"", "# nothing\n", "---\n...\n"}) {
    std::vector<Diagnostic> diagnostics;
    Reader reader("s.yaml", empty, &diagnostics);
    EXPECT_FALSE(reader.Document().has_value()) << empty;
    EXPECT_THAT(diagnostics, IsEmpty()) << empty;
  }
  EXPECT_THAT(Strings(ReadServer("name: a\nport: 1\n---\nname: b\n")),
              ElementsAre("s.yaml:4:1: error[yaml]: a second YAML document; "
                          "this file holds one"));
  EXPECT_THAT(Strings(ReadServer("null\n")),
              ElementsAre("s.yaml:1:1: error[bad_type]: a server must be a "
                          "map, got null"));
}

// A field whose value is itself a mapping, lists of mappings, a mapping of
// names and free-form YAML.
constexpr std::string_view kLimitKeys[] = {"depth"};
constexpr Schema kLimits = {
    .name = "limits", .prefix = "limits.", .keys = kLimitKeys};
constexpr Schema kItem = {.name = "item", .prefix = "", .keys = kLimitKeys};
constexpr std::string_view kRootKeys[] = {"limits", "items", "fixtures",
                                          "extra"};
constexpr Schema kRoot = {.name = "file", .prefix = "", .keys = kRootKeys};

std::vector<std::string> ReadRoot(const std::string& text,
                                  std::vector<std::string>* seen = nullptr) {
  std::vector<std::string> ignored;
  if (seen == nullptr) seen = &ignored;
  std::vector<Diagnostic> diagnostics;
  Reader reader("r.yaml", text, &diagnostics);
  std::optional<YAML::Node> document = reader.Document();
  if (!document.has_value()) return Strings(diagnostics);
  reader.ForEachField(*document, kRoot, [&](const Field& field) {
    if (field.key == "limits") {
      reader.ForEachField(field, kLimits, [&](const Field& limit) {
        int depth = 0;
        if (reader.Int(limit, 1, 64, &depth)) {
          seen->push_back(absl::StrCat("depth=", depth));
        }
      });
    } else if (field.key == "items") {
      if (!reader.CheckList(field)) return;
      for (const YAML::Node& item : field.value) {
        reader.ForEachField(item, kItem,
                            [&](const Field&) { seen->push_back("item"); });
      }
    } else if (field.key == "fixtures") {
      reader.ForEachEntry(field, [&](const Field& entry) {
        seen->push_back(std::string(entry.key));
      });
    } else {
      google::protobuf::Struct extra;
      if (reader.Struct(field, &extra)) {
        seen->push_back(absl::StrCat("extra=", extra.fields_size()));
      }
    }
  });
  return Strings(diagnostics);
}

TEST(ReaderTest, NestedMappingsListsAndNamedEntries) {
  std::vector<std::string> seen;
  EXPECT_THAT(ReadRoot("limits: {depth: 3}\nitems: [{depth: 1}, {depth: 2}]\n"
                       "fixtures: {b: 1, a: 2}\nextra: {k: [1, {x: y}]}\n",
                       &seen),
              IsEmpty());
  EXPECT_THAT(seen,
              ElementsAre("depth=3", "item", "item", "b", "a", "extra=1"));
  EXPECT_THAT(
      ReadRoot("limits: 3\nitems: {depth: 1}\nfixtures: [a]\nextra: x\n"),
      ElementsAre("r.yaml:1:9: error[bad_type]: \"limits\" must be a map, "
                  "got a scalar",
                  "r.yaml:2:8: error[bad_type]: \"items\" must be a list, got "
                  "a map",
                  "r.yaml:3:11: error[bad_type]: \"fixtures\" must be a map, "
                  "got a list",
                  "r.yaml:4:8: error[bad_type]: \"extra\" must be a map, got "
                  "a scalar"));
  EXPECT_THAT(
      ReadRoot("items: [7, {deep: 1}]\nfixtures: {a: 1, a: 2}\n"
               "extra: {k: {b: 1, b: 2}}\n"),
      ElementsAre("r.yaml:1:9: error[bad_type]: an item must be a map, got "
                  "a scalar",
                  "r.yaml:1:13: error[unknown_key]: unknown key \"deep\" in "
                  "item; allowed: depth",
                  "r.yaml:2:18: error[duplicate_key]: duplicate key \"a\" in "
                  "\"fixtures\" (first at line 2)",
                  "r.yaml:3:19: error[duplicate_key]: in \"extra\": duplicate "
                  "key \"b\""));
}

// Free-form YAML keeps value.h's caps: an alias bomb or deep nesting is a
// `limit` error, not exhausted memory or stack.
TEST(ReaderTest, StructKeepsTheNestingAndNodeCaps) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'f'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) {
      bomb += std::string(i ? ", *" : "*") + static_cast<char>(c - 1);
    }
    bomb += "]\n";
  }
  EXPECT_THAT(
      ReadRoot("extra:\n  " + absl::StrReplaceAll(bomb, {{"\n", "\n  "}})),
      ElementsAre(HasSubstr("error[limit]: in \"extra\": YAML value "
                            "has more than 100000 nodes")));
  const std::string deep = std::string(kMaxValueDepth + 1, '[') +
                           std::string(kMaxValueDepth + 1, ']');
  EXPECT_THAT(ReadRoot("extra: {k: " + deep + "}\n"),
              ElementsAre(HasSubstr("error[limit]: in \"extra\": YAML value "
                                    "nests deeper than 64 levels")));
}

TEST(ReaderTest, WalkTurnsAThrowIntoADiagnostic) {
  std::vector<Diagnostic> diagnostics;
  Reader reader("w.yaml", "a: 1\n", &diagnostics);
  reader.Walk([] { throw std::runtime_error("misuse"); });
  EXPECT_THAT(Strings(diagnostics),
              ElementsAre("w.yaml: error[yaml]: internal error reading YAML: "
                          "misuse"));
  EXPECT_EQ(reader.error_count(), 1);
}

TEST(DiagnosticTest, SortsByFileAndPositionKeepingTies) {
  auto at = [](std::string file, int line, int column, std::string code,
               std::string message) {
    Diagnostic d;
    d.file = std::move(file);
    d.line = line;
    d.column = column;
    d.code = std::move(code);
    d.message = std::move(message);
    return d;
  };
  std::vector<Diagnostic> d = {
      at("b.yaml", 1, 1, "x", "1"), at("a.yaml", 3, 2, "x", "2"),
      at("a.yaml", 3, 2, "x", "3"), at("a.yaml", 1, 9, "x", "4"),
      at("a.yaml", 0, 0, "io", "5")};
  SortDiagnostics(&d);
  std::vector<std::string> order;
  for (const Diagnostic& diagnostic : d) order.push_back(diagnostic.message);
  EXPECT_THAT(order, ElementsAre("5", "4", "2", "3", "1"));
  EXPECT_EQ(d[0].ToString(), "a.yaml: error[io]: 5");
  EXPECT_EQ(d[1].ToString(), "a.yaml:1:9: error[x]: 4");
}

}  // namespace
}  // namespace verdict::yaml
