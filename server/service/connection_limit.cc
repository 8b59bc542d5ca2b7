#include "server/service/connection_limit.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/support/sync.h"
#include "grpcpp/support/channel_arguments.h"
#include "server/common/log.h"

// gRPC 1.51 takes a socket mutator through a public channel argument
// (grpc::ChannelArguments::SetSocketMutator) but installs the header that
// defines one, src/core/lib/iomgr/socket_mutator.h, only in its source
// tree. These are that header's definitions, unchanged since mutate_fd_2 was
// added; gRPC's own tests build mutators the same way.
typedef enum {
  GRPC_FD_CLIENT_CONNECTION_USAGE,
  GRPC_FD_SERVER_LISTENER_USAGE,
  GRPC_FD_SERVER_CONNECTION_USAGE,
} grpc_fd_usage;

typedef struct {
  int fd;
  grpc_fd_usage usage;
} grpc_mutate_socket_info;

struct grpc_socket_mutator_vtable {
  bool (*mutate_fd)(int fd, grpc_socket_mutator* mutator);
  int (*compare)(grpc_socket_mutator* a, grpc_socket_mutator* b);
  void (*destroy)(grpc_socket_mutator* mutator);
  bool (*mutate_fd_2)(const grpc_mutate_socket_info* info,
                      grpc_socket_mutator* mutator);
};

struct grpc_socket_mutator {
  const grpc_socket_mutator_vtable* vtable;
  gpr_refcount refcount;
};

namespace verdict::service {
namespace {

constexpr absl::Duration kMinSweepInterval = absl::Milliseconds(10);
// Descriptors kept for everything but client connections: listeners,
// policy and key files, the decision log, the metrics server, gRPC's own
// (event fds, epoll), and refused connections not yet closed by gRPC.
constexpr rlim_t kReservedFiles = 128;
constexpr rlim_t kMinConnections = 16;

class Limit {
 public:
  explicit Limit(int max) : max_(static_cast<size_t>(max)) {}

  void Accepted(int fd) {
    struct stat st {};
    if (fstat(fd, &st) != 0) return;
    absl::MutexLock lock(&mu_);
    if (open_.size() >= max_) {
      const absl::Time now = absl::Now();
      if (now - last_sweep_ >= kMinSweepInterval) {
        last_sweep_ = now;
        Sweep();
      }
    }
    if (open_.size() >= max_ && !open_.contains(fd)) {
      shutdown(fd, SHUT_RDWR);
      return;
    }
    // A number still recorded was closed by gRPC and given to this one.
    open_[fd] = st.st_ino;
  }

 private:
  void Sweep() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    absl::erase_if(open_, [](const auto& entry) {
      struct stat st {};
      return fstat(entry.first, &st) != 0 || st.st_ino != entry.second;
    });
  }

  const size_t max_;
  absl::Mutex mu_;
  absl::flat_hash_map<int, ino_t> open_ ABSL_GUARDED_BY(mu_);  // fd -> inode
  absl::Time last_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// Standard layout, `base` first: gRPC hands back &base.
struct Mutator {
  grpc_socket_mutator base;
  std::shared_ptr<Limit> limit;
};

bool MutateFd(int /*fd*/, grpc_socket_mutator* /*mutator*/) { return true; }

bool MutateFd2(const grpc_mutate_socket_info* info,
               grpc_socket_mutator* mutator) {
  if (info->usage == GRPC_FD_SERVER_CONNECTION_USAGE) {
    reinterpret_cast<Mutator*>(mutator)->limit->Accepted(info->fd);
  }
  return true;
}

int Compare(grpc_socket_mutator* a, grpc_socket_mutator* b) {
  return (a > b) - (a < b);
}

void Destroy(grpc_socket_mutator* mutator) {
  delete reinterpret_cast<Mutator*>(mutator);
}

constexpr grpc_socket_mutator_vtable kVtable = {MutateFd, Compare, Destroy,
                                                MutateFd2};

class MutatorOption final : public grpc::ServerBuilderOption {
 public:
  explicit MutatorOption(std::shared_ptr<Limit> limit)
      : limit_(std::move(limit)) {}

  void UpdateArguments(grpc::ChannelArguments* args) override {
    // The arguments take this first reference; gRPC's copies add theirs,
    // and the last one released deletes the mutator.
    auto* mutator = new Mutator{.base = {.vtable = &kVtable, .refcount = {}},
                                .limit = limit_};
    gpr_ref_init(&mutator->base.refcount, 1);
    args->SetSocketMutator(&mutator->base);
  }
  void UpdatePlugins(
      std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* /*plugins*/)
      override {}

 private:
  std::shared_ptr<Limit> limit_;
};

}  // namespace

absl::StatusOr<int> InstallConnectionLimit(int max,
                                           grpc::ServerBuilder* builder) {
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0) {
    return absl::InternalError("cannot read the open-file limit");
  }
  const rlim_t wanted = static_cast<rlim_t>(max) + kReservedFiles;
  if (files.rlim_cur < wanted && files.rlim_cur != RLIM_INFINITY) {
    files.rlim_cur = std::min(wanted, files.rlim_max);
    setrlimit(RLIMIT_NOFILE, &files);
    getrlimit(RLIMIT_NOFILE, &files);
  }
  int cap = max;
  if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur < wanted) {
    if (files.rlim_cur <= kReservedFiles + kMinConnections) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the open-file limit (", files.rlim_cur,
          ") leaves no room for "
          "connections: verdictd needs ",
          kReservedFiles, " files for itself plus one per connection"));
    }
    cap = static_cast<int>(files.rlim_cur - kReservedFiles);
    Log(LogLevel::kWarning, "limits.max_connections ", max, " lowered to ", cap,
        ": the open-file limit is ", files.rlim_cur,
        " (raise it with LimitNOFILE= or ulimit -n)");
  }
  builder->SetOption(
      std::make_unique<MutatorOption>(std::make_shared<Limit>(cap)));
  return cap;
}

}  // namespace verdict::service
