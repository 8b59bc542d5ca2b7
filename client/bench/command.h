// `verdict bench`: the command-line face of the load generator
// (client/bench/load_generator.h). Declared here rather than in
// client/cli/commands.h so the bench stays one self-contained component.

#ifndef VERDICT_CLIENT_BENCH_COMMAND_H_
#define VERDICT_CLIENT_BENCH_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace verdict::cli {

// Runs the load described by `args` and prints the report. Exit code 0 when
// the run completed with no failed call, 1 when some calls failed, 2 on bad
// flags or an unreadable request file.
int RunBench(const std::vector<std::string>& args, std::ostream& out,
             std::ostream& err);

}  // namespace verdict::cli

#endif  // VERDICT_CLIENT_BENCH_COMMAND_H_
