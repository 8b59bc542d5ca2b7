// absl::Time and absl::Duration to and from google.protobuf.Timestamp and
// Duration, for the decision pipeline and the gRPC services.

#ifndef VERDICT_SERVER_DECISION_PROTO_TIME_H_
#define VERDICT_SERVER_DECISION_PROTO_TIME_H_

#include <cstdint>

#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace verdict::decision {

inline void SetTimestamp(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(time);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
}

inline void SetDuration(absl::Duration duration,
                        google::protobuf::Duration* out) {
  const int64_t seconds =
      absl::IDivDuration(duration, absl::Seconds(1), &duration);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(duration)));
}

// A Duration message as absl::Duration (its fields are not range-checked
// by protobuf: the sum saturates rather than overflow).
inline absl::Duration FromProto(const google::protobuf::Duration& duration) {
  return absl::Seconds(duration.seconds()) +
         absl::Nanoseconds(duration.nanos());
}

// A Timestamp message as absl::Time; request_validation.h checks the range
// of one that came from a client.
inline absl::Time FromProto(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) +
         absl::Nanoseconds(timestamp.nanos());
}

}  // namespace verdict::decision

#endif  // VERDICT_SERVER_DECISION_PROTO_TIME_H_
