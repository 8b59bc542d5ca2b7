#include "server/service/caller_trust.h"

namespace verdict::service {

bool IsLoopbackPeer(std::string_view peer) {
  // 127.0.0.0/8 is loopback as a whole; IPv4-mapped forms come from
  // dual-stack listeners.
  static constexpr std::string_view kPrefixes[] = {
      "ipv4:127.",         "ipv6:[::1]:",         "ipv6:%5B::1%5D:",
      "ipv6:[::ffff:127.", "ipv6:%5B::ffff:127.", "unix:",
      "unix-abstract:",
  };
  for (std::string_view prefix : kPrefixes) {
    if (peer.starts_with(prefix)) return true;
  }
  return false;
}

}  // namespace verdict::service
