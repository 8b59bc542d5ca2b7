#include "client/suite/report.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/json_util.h"
#include "server/common/utf8.h"

namespace verdict::suite {
namespace {

std::string_view StatusName(TestStatus status) {
  switch (status) {
    case TestStatus::kPass:
      return "PASS";
    case TestStatus::kFail:
      return "FAIL";
    case TestStatus::kError:
      return "ERROR";
  }
  return "ERROR";
}

// "1.2ms", "340µs": short, like opa test.
std::string ShortDuration(absl::Duration d) {
  const double micros = absl::ToDoubleMicroseconds(d);
  if (micros < 1000) return absl::StrFormat("%.0fµs", micros);
  return absl::StrFormat("%.1fms", micros / 1000);
}

std::string Seconds(absl::Duration d) {
  return absl::StrFormat("%.6f", absl::ToDoubleSeconds(d));
}

void WriteReasons(const v1::CheckResponse& response, std::string_view indent,
                  std::ostream& out) {
  if (response.reasons().empty()) {
    out << indent << "reasons: none\n";
    return;
  }
  for (const v1::Reason& reason : response.reasons()) {
    out << indent << "reason: " << reason.code();
    if (!reason.rule().empty()) {
      out << " " << reason.policy() << "/" << reason.rule();
    }
    if (!reason.message().empty()) out << " (" << reason.message() << ")";
    out << "\n";
  }
}

// The paths a conditional answer depends on, one line each, as the
// response orders them.
void WriteDependsOn(const v1::CheckResponse& response, std::string_view indent,
                    std::ostream& out) {
  if (AnswerOf(response) != Expect::kConditional) return;
  for (const std::string& path : response.depends_on()) {
    out << indent << "depends_on: " << path << "\n";
  }
}

// The whole answer of a passing test, for --verbose: its decision (allow,
// deny or conditional) with the paths a conditional one depends on, every
// reason and the obligations (by key, each value as JSON), so that two runs
// can be compared line by line.
void WriteAnswer(const v1::CheckResponse& response, std::string_view indent,
                 std::ostream& out) {
  out << indent << "decision: " << ExpectName(AnswerOf(response)) << "\n";
  WriteDependsOn(response, indent, out);
  WriteReasons(response, indent, out);
  const auto& fields = response.obligations().fields();
  std::vector<std::string_view> keys;
  keys.reserve(fields.size());
  for (const auto& [key, value] : fields) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  for (const std::string_view key : keys) {
    std::string json;
    if (!google::protobuf::util::MessageToJsonString(
             fields.at(std::string(key)), &json)
             .ok()) {
      json = "(unprintable)";
    }
    out << indent << "obligation: " << key << " = " << json << "\n";
  }
}

std::string_view EffectName(policy::Effect effect) {
  return effect == policy::Effect::kAllow ? "allow" : "deny";
}

}  // namespace

std::string XmlEscape(std::string_view text, bool attribute) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    // Test names and messages come from YAML and the server: bytes that are
    // not UTF-8 would make the whole report unreadable, so each becomes '?'.
    const size_t bad = FindInvalidUtf8(text);
    const std::string_view valid = text.substr(0, bad);
    for (char c : valid) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&apos;";
          break;
        case '\n':
        case '\t':
          if (attribute) {
            out += c == '\n' ? "&#10;" : "&#9;";
          } else {
            out += c;
          }
          break;
        default:
          // Other control characters are not allowed in XML 1.0.
          if (static_cast<unsigned char>(c) < 0x20 && c != '\r') {
            out += '?';
          } else {
            out += c;
          }
      }
    }
    if (bad == std::string_view::npos) break;
    out += '?';
    text.remove_prefix(bad + 1);
  }
  return out;
}

void WriteText(const RunReport& report, bool verbose, std::ostream& out) {
  for (const SuiteResult& suite : report.suites) {
    if (!suite.suite.has_value()) {
      out << suite.file << ": ERROR: suite file did not load\n";
      for (const SuiteError& error : suite.load_errors) {
        out << "  " << error.ToString() << "\n";
      }
      continue;
    }
    out << suite.file << ": " << suite.suite->name << "\n";
    for (const TestResult& result : suite.tests) {
      const TestCase& test = suite.suite->tests[result.test];
      out << "  " << StatusName(result.status) << "  " << test.name << " ("
          << ShortDuration(result.duration) << ")\n";
      const bool failed = result.status == TestStatus::kFail ||
                          result.status == TestStatus::kError;
      if (failed) {
        out << "        at " << suite.file << ":" << test.line << ":"
            << test.column << "\n";
      }
      for (const std::string& problem : result.problems) {
        out << "        " << problem << "\n";
      }
      if (result.status == TestStatus::kFail) {
        WriteReasons(result.response, "        ", out);
        WriteDependsOn(result.response, "        ", out);
      } else if (verbose && result.status == TestStatus::kPass) {
        WriteAnswer(result.response, "        ", out);
      }
    }
  }
  const RunCounts counts = report.Counts();
  out << std::string(80, '-') << "\n";
  out << "PASS: " << counts.passed << "/" << counts.total << "\n";
  if (counts.failed > 0) {
    out << "FAIL: " << counts.failed << "/" << counts.total << "\n";
  }
  if (counts.errors > 0) out << "ERROR: " << counts.errors << "\n";
}

void WriteJunit(const RunReport& report, std::ostream& out) {
  const RunCounts counts = report.Counts();
  absl::Duration total_time;
  for (const SuiteResult& suite : report.suites) {
    for (const TestResult& test : suite.tests) total_time += test.duration;
  }
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << "<testsuites name=\"verdict test\" tests=\"" << counts.total
      << "\" failures=\"" << counts.failed << "\" errors=\"" << counts.errors
      << "\" time=\"" << Seconds(total_time) << "\">\n";
  for (const SuiteResult& suite : report.suites) {
    if (!suite.suite.has_value()) {
      // A suite file that did not load is one errored testsuite, so CI
      // shows it instead of silently running fewer tests.
      std::string message;
      for (const SuiteError& error : suite.load_errors) {
        absl::StrAppend(&message, error.ToString(), "\n");
      }
      out << "  <testsuite name=\"" << XmlEscape(suite.file) << "\" file=\""
          << XmlEscape(suite.file)
          << "\" tests=\"0\" failures=\"0\" errors=\"1\">\n"
          << "    <error message=\"suite file did not load\">"
          << XmlEscape(message, false) << "</error>\n"
          << "  </testsuite>\n";
      continue;
    }
    int failures = 0, errors = 0;
    absl::Duration time;
    for (const TestResult& test : suite.tests) {
      failures += test.status == TestStatus::kFail;
      errors += test.status == TestStatus::kError;
      time += test.duration;
    }
    out << "  <testsuite name=\"" << XmlEscape(suite.suite->name)
        << "\" file=\"" << XmlEscape(suite.file) << "\" tests=\""
        << suite.tests.size() << "\" failures=\"" << failures << "\" errors=\""
        << errors << "\" time=\"" << Seconds(time) << "\">\n";
    for (const TestResult& result : suite.tests) {
      const TestCase& test = suite.suite->tests[result.test];
      out << "    <testcase name=\"" << XmlEscape(test.name)
          << "\" classname=\"" << XmlEscape(suite.suite->name) << "\" file=\""
          << XmlEscape(suite.file) << "\" line=\"" << test.line << "\" time=\""
          << Seconds(result.duration) << "\"";
      if (result.status == TestStatus::kPass) {
        out << "/>\n";
        continue;
      }
      out << ">\n";
      std::string detail;
      for (const std::string& problem : result.problems) {
        absl::StrAppend(&detail, problem, "\n");
      }
      const std::string first =
          result.problems.empty() ? "" : result.problems.front();
      if (result.status == TestStatus::kFail) {
        for (const v1::Reason& reason : result.response.reasons()) {
          absl::StrAppend(&detail, "reason: ", reason.code());
          if (!reason.rule().empty()) {
            absl::StrAppend(&detail, " ", reason.policy(), "/", reason.rule());
          }
          absl::StrAppend(&detail, "\n");
        }
        if (AnswerOf(result.response) == Expect::kConditional) {
          for (const std::string& path : result.response.depends_on()) {
            absl::StrAppend(&detail, "depends_on: ", path, "\n");
          }
        }
        out << "      <failure message=\"" << XmlEscape(first)
            << "\" type=\"assertion\">" << XmlEscape(detail, false)
            << "</failure>\n";
      } else {
        out << "      <error message=\"" << XmlEscape(first) << "\">"
            << XmlEscape(detail, false) << "</error>\n";
      }
      out << "    </testcase>\n";
    }
    out << "  </testsuite>\n";
  }
  out << "</testsuites>\n";
}

void WriteCoverage(const policy::PolicySet& set,
                   const std::vector<const policy::Rule*>& uncovered,
                   const std::string& policy_dir, std::ostream& out) {
  const size_t total = set.rules().size();
  out << "coverage: " << (total - uncovered.size()) << "/" << total
      << " rules exercised\n";
  for (const policy::Rule* rule : uncovered) {
    out << "  ";
    if (!policy_dir.empty() && policy_dir != ".") out << policy_dir << "/";
    out << rule->position.file << ":" << rule->position.line << ":"
        << rule->position.column << ": not exercised: " << rule->policy << "/"
        << rule->id << " (" << EffectName(rule->effect) << ")\n";
  }
}

}  // namespace verdict::suite
