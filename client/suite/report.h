// Renders a RunReport: the text tree people read (like `opa test`) and the
// JUnit XML that CI systems display.
//
// Text: one line per suite file, then one line per test with PASS, FAIL or
// ERROR and its time; failures add the expected and actual answer (allow,
// deny, or conditional with its depends_on paths) and every reason with its
// policy/rule; a final `PASS: n/m` line (and
// FAIL/ERROR lines when non-zero). JUnit: <testsuites> with one <testsuite>
// per file and one <testcase> per test, <failure> for a wrong answer,
// <error> for a backend error or a suite file that did not load, with
// tests/failures/errors counts.
//
// Pure functions of their input; thread-safe.

#ifndef VERDICT_CLIENT_SUITE_REPORT_H_
#define VERDICT_CLIENT_SUITE_REPORT_H_

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "client/suite/runner.h"
#include "server/policy/policy_set.h"

namespace verdict::suite {

// With `verbose`, passing tests also show their decision, reasons and
// obligations.
void WriteText(const RunReport& report, bool verbose, std::ostream& out);

void WriteJunit(const RunReport& report, std::ostream& out);

// Lists `uncovered` as "file:line:col: policy/rule (effect)" lines with a
// "coverage: k/n rules exercised" summary. `policy_dir` prefixes the files.
void WriteCoverage(const policy::PolicySet& set,
                   const std::vector<const policy::Rule*>& uncovered,
                   const std::string& policy_dir, std::ostream& out);

// `text` escaped for XML character data, or for an attribute value (where
// line breaks and tabs must be escaped to survive). Control characters that
// XML 1.0 forbids become '?'.
std::string XmlEscape(std::string_view text, bool attribute = true);

}  // namespace verdict::suite

#endif  // VERDICT_CLIENT_SUITE_REPORT_H_
