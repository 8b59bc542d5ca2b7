// Generated MCP workloads for benchmarks: a deployment of servers, tools and
// agent roles, the policies that govern it, and a request mix over it.
//
// The generator scales the number of servers with the number of rules, so
// each (server, tool) pair keeps about the same number of applicable rules:
// a real deployment grows by adding servers and teams, not by piling every
// rule onto one tool. Deterministic for a given seed.

#ifndef VERDICT_BENCH_WORKLOAD_H_
#define VERDICT_BENCH_WORKLOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "google/protobuf/struct.pb.h"
#include "server/model/request.h"

namespace verdict::bench {

struct WorkloadSpec {
  int rules = 1000;
  uint32_t seed = 1;
  // How many distinct (server, tool, team) targets the requests address; 0
  // spreads them over the whole deployment. A fixed number measures the
  // index's cost at every set size; spreading them measures memory latency
  // too, since each request then touches rules no recent request touched.
  int hot_targets = 0;
};

// One request of the mix and the storage its model::Request views.
struct WorkloadRequest {
  std::string subject;
  google::protobuf::RepeatedPtrField<std::string> roles;
  google::protobuf::Struct attributes;
  std::string server, tool, action;
  google::protobuf::Struct arguments;
  google::protobuf::Struct context;

  // A view into this object: valid while it lives and is not moved.
  model::Request View() const;
};

struct Workload {
  std::string policy_yaml;  // every policy, as one multi-document file
  int rule_count = 0;
  std::vector<WorkloadRequest> requests;
};

Workload GenerateWorkload(const WorkloadSpec& spec, int request_count);

}  // namespace verdict::bench

#endif  // VERDICT_BENCH_WORKLOAD_H_
