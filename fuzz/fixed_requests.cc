#include "fuzz/fixed_requests.h"

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "fuzz/fuzz_target.h"
#include "google/protobuf/util/json_util.h"

namespace verdict::fuzz {
namespace {

model::Struct ParseStruct(const std::string& json) {
  model::Struct out;
  if (!google::protobuf::util::JsonStringToMessage(json, &out).ok()) {
    // A broken fixture is a broken fuzzer, not a finding.
    std::fprintf(stderr, "fixed request JSON does not parse: %s\n",
                 json.c_str());
    std::abort();
  }
  return out;
}

model::StringList Strings(std::initializer_list<const char*> values) {
  model::StringList out;
  for (const char* value : values) out.Add(value);
  return out;
}

// Everything the requests borrow.
struct Storage {
  model::StringList subject_roles =
      Strings({"crm-reader", "researcher", "workflow-operator", "developer"});
  model::StringList subject_scopes = Strings({"contacts:read", "kb:search"});
  model::Struct subject_attributes = ParseStruct(
      R"({"clearance": 3, "team": "sales", "ratio": 0.5, "tags": ["a", "b"]})");
  model::StringList actor_roles = Strings({"gateway"});
  model::StringList chain =
      Strings({"spiffe://corp.example/gateway", "spiffe://corp.example/app"});
  model::Struct arguments = ParseStruct(
      R"({"limit": 50, "query": "acme", "rows": 10,
          "path": "/workspace/src/main.cc",
          "sql": "SELECT name FROM contacts WHERE region = 'eu'",
          "tables": ["contacts"],
          "recipients": ["a@corp.example", "b@example.com"]})");
  model::Struct annotations = ParseStruct(
      R"({"readOnlyHint": true, "destructiveHint": false,
          "idempotentHint": true})");
  model::Struct resource_attributes = ParseStruct(
      R"({"owner": "spiffe://corp.example/agent/crm/r1", "sensitivity": 2,
          "labels": {"pii": true}})");
  model::Struct context = ParseStruct(
      R"({"environment": "prod", "weekday": "Tue", "hour": 10,
          "ticket": "OPS-1234", "region": "eu-west-1", "nothing": null,
          "task_id": "TASK-42", "plan": {"tools": ["search_contacts"]},
          "tags": ["urgent", "customer"], "nested": {"inner": {"deep": 1}},
          "ratio": 0.25, "big": 1e300, "name": "h\u00e9llo"})");
  model::Struct grant_scope =
      ParseStruct(R"({"rows": 100, "tools": ["export_contacts"]})");
  model::Principal actor;
  FixedRequestSet set;

  Storage() {
    model::Request& full = set.requests[0];
    full.subject = {"spiffe://corp.example/agent/crm/r1",
                    &subject_roles,
                    &subject_scopes,
                    &subject_attributes,
                    "corp.example",
                    "jwt"};
    actor = {"spiffe://corp.example/gateway",
             &actor_roles,
             nullptr,
             nullptr,
             "corp.example",
             "x509"};
    full.actor = &actor;
    full.delegation = {2, &chain};
    full.tool = {"crm", "search_contacts", &arguments, &annotations};
    full.action = "tools/call";
    full.resource = {true, "dataset", "customers/eu", &resource_attributes};
    full.context = &context;
    full.grant = {true,   "grant-1",    "export quarterly report",
                  "prod", &grant_scope, kFixedNow + absl::Hours(1)};
    full.now = kFixedNow;

    model::Request& partial = set.requests[1];
    partial.subject.id = "spiffe://corp.example/agent/research/r2";
    partial.subject.roles = &subject_roles;
    partial.subject.auth = "asserted";
    partial.tool.server = "kb";
    partial.tool.name = "export_articles";
    partial.action = "tools/list";
    partial.now = kFixedNow;
  }
};

}  // namespace

const FixedRequestSet& FixedRequests() {
  static const Storage* const storage = new Storage();
  return storage->set;
}

}  // namespace verdict::fuzz
