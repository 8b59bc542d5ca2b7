// The engine's view of one authorization question.
//
// A Request borrows everything it shows: strings and structs live in the
// caller's CheckRequest (or a test case, or an authenticated identity) and must
// outlive every evaluation that reads the Request. Building one copies nothing
// and allocates nothing, so the gRPC layer can fill it per call for free.
//
// Absent parts are explicit: a null pointer or `present == false` means "not
// in this request", which conditions see as a missing field (an error that
// fails closed), unlike an empty string, which is a present value.

#ifndef VERDICT_SERVER_MODEL_REQUEST_H_
#define VERDICT_SERVER_MODEL_REQUEST_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/struct.pb.h"

namespace verdict::model {

// The longest id (subject, resource, actor; a SPIFFE ID is at most 2048
// bytes) and name (tool server and name, action, resource kind, role) a
// request may carry; a grant's scope items name the same things.
inline constexpr size_t kMaxIdBytes = 2048;
inline constexpr size_t kMaxNameBytes = 256;

using StringList = google::protobuf::RepeatedPtrField<std::string>;
using Struct = google::protobuf::Struct;

// A subject or an actor of the delegation chain.
struct Principal {
  std::string_view id;
  const StringList* roles = nullptr;   // null: no roles
  const StringList* scopes = nullptr;  // null: no scopes
  const Struct* attributes = nullptr;  // null: no attributes
  std::string_view trust_domain;       // SPIFFE trust domain, if any
  std::string_view auth;  // how it was authenticated: asserted, jwt, x509...
};

struct Tool {
  std::string_view server;
  std::string_view name;
  const Struct* arguments = nullptr;
  const Struct* annotations = nullptr;
};

struct Resource {
  bool present = false;
  std::string_view kind;
  std::string_view id;
  const Struct* attributes = nullptr;
};

// The task grant the request carries, once verified.
struct Grant {
  bool present = false;
  std::string_view id;
  std::string_view task;
  std::string_view environment;
  const Struct* scope = nullptr;
  absl::Time expires_at = absl::InfiniteFuture();
};

struct Delegation {
  int depth = 0;  // number of actors between caller and subject
  const StringList* chain = nullptr;  // actor ids, nearest first
};

struct Request {
  // For a listed item, the listing method (tools/list, ...); `action` is
  // then the call it lists (mcp_method.h). Empty for any other request.
  std::string_view listing;
  // What the request cannot know yet, so conditions see it as unknown
  // rather than missing and the answer may be Decision::kConditional: a
  // listed item's arguments, and its resource when the item names none.
  bool arguments_unknown = false;
  bool resource_unknown = false;
  Principal subject;
  const Principal* actor = nullptr;  // nearest actor; null without delegation
  Delegation delegation;
  Tool tool;
  std::string_view action;
  Resource resource;
  const Struct* context = nullptr;
  Grant grant;
  absl::Time now = absl::UnixEpoch();
};

}  // namespace verdict::model

#endif  // VERDICT_SERVER_MODEL_REQUEST_H_
