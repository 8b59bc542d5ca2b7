#include "server/grants/revocations.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/authn/strict_json.h"
#include "server/common/log.h"
#include "server/grants/grant.h"
#include "server/model/request.h"

namespace verdict::grants {
namespace {

using ::verdict::model::kMaxNameBytes;

// A recent part smaller than this is never folded into the shared part.
constexpr size_t kMinRecentIds = 64;

absl::string_view Piece(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

std::string ErrnoText() { return std::strerror(errno); }

// A set that only grows, shared between snapshots: an old part that
// successive snapshots share, and a recent part that each addition copies.
// When the recent part outgrows the square root of the old one, both are
// merged; an addition so costs O(sqrt n) copies amortised instead of O(n),
// and a lookup is at most two hash probes.
class GrowOnlyIdSet {
 public:
  using Set = absl::flat_hash_set<std::string>;

  GrowOnlyIdSet() : old_(std::make_shared<const Set>()) {}
  explicit GrowOnlyIdSet(Set ids)
      : old_(std::make_shared<const Set>(std::move(ids))) {}

  bool contains(std::string_view id) const {
    const absl::string_view key = Piece(id);
    return recent_.contains(key) || old_->contains(key);
  }

  size_t size() const { return old_->size() + recent_.size(); }

  template <typename F>
  void ForEach(F f) const {
    for (const std::string& id : *old_) f(id);
    for (const std::string& id : recent_) f(id);
  }

  // A copy of this set with `id` added.
  GrowOnlyIdSet With(std::string_view id) const {
    const size_t recent_limit = std::max<size_t>(
        kMinRecentIds,
        static_cast<size_t>(std::sqrt(static_cast<double>(old_->size()))));
    if (recent_.size() + 1 < recent_limit) {
      Set recent = recent_;
      recent.emplace(id);
      return GrowOnlyIdSet(old_, std::move(recent));
    }
    Set merged = *old_;
    merged.insert(recent_.begin(), recent_.end());
    merged.emplace(id);
    return GrowOnlyIdSet(std::make_shared<const Set>(std::move(merged)), Set());
  }

 private:
  GrowOnlyIdSet(std::shared_ptr<const Set> old, Set recent)
      : old_(std::move(old)), recent_(std::move(recent)) {}

  std::shared_ptr<const Set> old_;
  Set recent_;
};

// Reads the whole of `fd` from offset 0.
absl::StatusOr<std::string> ReadAll(int fd, const std::string& path) {
  std::string contents;
  char buffer[65536];
  for (off_t offset = 0;;) {
    const ssize_t got = ::pread(fd, buffer, sizeof(buffer), offset);
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(
          absl::StrCat("cannot read ", path, ": ", ErrnoText()));
    }
    if (got == 0) return contents;
    contents.append(buffer, static_cast<size_t>(got));
    offset += got;
  }
}

std::string_view KindName(bool task) { return task ? "task" : "grant"; }

// The id and kind of one record line, or why it is not one.
absl::Status ParseRecord(std::string_view line, std::string* id,
                         bool* is_task) {
  absl::StatusOr<nlohmann::json> record = authn::ParseStrictJsonObject(line);
  if (!record.ok()) return record.status();
  const auto at = record->find("at");
  if (at == record->end() || !at->is_number_integer() ||
      (!at->is_number_unsigned() && at->get<int64_t>() < 0)) {
    return absl::InvalidArgumentError(
        "\"at\" is missing or not a non-negative integer");
  }
  const auto grant = record->find("grant");
  const auto task = record->find("task");
  if ((grant == record->end()) == (task == record->end()) ||
      record->size() != 2) {
    return absl::InvalidArgumentError(
        "a record has \"at\" and exactly one of \"grant\" or \"task\"");
  }
  *is_task = task != record->end();
  const nlohmann::json& value = *is_task ? *task : *grant;
  if (!value.is_string() || value.get_ref<const std::string&>().empty() ||
      value.get_ref<const std::string&>().size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", Piece(KindName(*is_task)), "\" is not an id of 1..",
                     kMaxNameBytes, " bytes"));
  }
  *id = value.get<std::string>();
  return absl::OkStatus();
}

absl::Status SyncDirectoryOf(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) parent = ".";
  const int dir = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open ", parent.string(), ": ", ErrnoText()));
  }
  const bool synced = ::fsync(dir) == 0;
  const std::string error = synced ? "" : ErrnoText();
  ::close(dir);
  if (!synced) {
    return absl::UnavailableError(
        absl::StrCat("cannot sync ", parent.string(), ": ", error));
  }
  return absl::OkStatus();
}

}  // namespace

struct RevocationList::Snapshot {
  GrowOnlyIdSet grants;
  GrowOnlyIdSet tasks;
};

RevocationList::RevocationList(std::string path, int fd, int64_t end,
                               std::shared_ptr<const Snapshot> loaded)
    : path_(std::move(path)),
      fd_(fd),
      end_(end),
      snapshot_(std::move(loaded)) {}

RevocationList::~RevocationList() { ::close(fd_); }

absl::StatusOr<std::unique_ptr<RevocationList>> RevocationList::Open(
    const std::string& path) {
  bool created = true;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST) {
    created = false;
    fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  }
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open revocation file ", path, ": ", ErrnoText()));
  }
  absl::Cleanup close_on_error = [fd] { ::close(fd); };
  auto fail = [&path](absl::string_view why) {
    return absl::FailedPreconditionError(
        absl::StrCat("revocation file ", path, ": ", why));
  };
  struct stat info;
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    return fail("not a regular file");
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    return fail(errno == EWOULDBLOCK ? "in use by another process"
                                     : ErrnoText());
  }
  if (created) {
    if (absl::Status synced = SyncDirectoryOf(path); !synced.ok()) {
      return synced;
    }
  }
  absl::StatusOr<std::string> contents = ReadAll(fd, path);
  if (!contents.ok()) return contents.status();

  absl::flat_hash_set<std::string> grants;
  absl::flat_hash_set<std::string> tasks;
  const size_t complete = contents->rfind('\n') + 1;  // 0 when none
  size_t line_number = 0;
  for (size_t start = 0; start < complete;) {
    const size_t end = contents->find('\n', start);
    const std::string_view line(contents->data() + start, end - start);
    start = end + 1;
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    std::string id;
    bool is_task = false;
    if (absl::Status parsed = ParseRecord(line, &id, &is_task); !parsed.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ":", line_number,
                       ": not a revocation record: ", parsed.message()));
    }
    (is_task ? tasks : grants).insert(std::move(id));
  }
  if (complete < contents->size()) {
    Log(LogLevel::kWarning, path, ":", line_number + 1,
        ": dropping a torn last revocation record (",
        contents->size() - complete,
        " bytes without a newline, left by an interrupted write)");
    if (::ftruncate(fd, static_cast<off_t>(complete)) != 0 ||
        ::fdatasync(fd) != 0) {
      return fail(
          absl::StrCat("cannot cut the torn last record: ", ErrnoText()));
    }
  }

  auto loaded = std::make_shared<Snapshot>();
  loaded->grants = GrowOnlyIdSet(std::move(grants));
  loaded->tasks = GrowOnlyIdSet(std::move(tasks));
  std::move(close_on_error).Cancel();
  return std::unique_ptr<RevocationList>(new RevocationList(
      path, fd, static_cast<int64_t>(complete), std::move(loaded)));
}

absl::Status RevocationList::RevokeGrant(std::string_view grant_id,
                                         absl::Time now) {
  return Revoke(Kind::kGrant, grant_id, now).status();
}

absl::Status RevocationList::RevokeTask(std::string_view task_id,
                                        absl::Time now) {
  return Revoke(Kind::kTask, task_id, now).status();
}

absl::StatusOr<bool> RevocationList::Record(Kind kind, std::string_view id,
                                            absl::Time at) {
  return Revoke(kind, id, at);
}

absl::Status RevocationList::ValidateId(Kind kind, std::string_view id) {
  const bool is_task = kind == Kind::kTask;
  if (id.empty() || id.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        Piece(KindName(is_task)), " id must be 1..", kMaxNameBytes, " bytes"));
  }
  try {
    nlohmann::json(std::string(id)).dump();
  } catch (const nlohmann::json::exception&) {
    return absl::InvalidArgumentError(
        absl::StrCat(Piece(KindName(is_task)), " id is not valid UTF-8"));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> RevocationList::Revoke(Kind kind, std::string_view id,
                                            absl::Time now) {
  const bool is_task = kind == Kind::kTask;
  if (absl::Status valid = ValidateId(kind, id); !valid.ok()) return valid;
  // ValidateId proved that the id serialises.
  const std::string line = absl::StrCat(
      "{\"", Piece(KindName(is_task)),
      "\":", nlohmann::json(std::string(id)).dump(),
      ",\"at\":", std::max<int64_t>(0, absl::ToUnixSeconds(now)), "}\n");

  absl::MutexLock lock(&write_mu_);
  const std::shared_ptr<const Snapshot> current = snapshot_.Current();
  const GrowOnlyIdSet& ids = is_task ? current->tasks : current->grants;
  if (ids.contains(id)) return false;
  if (absl::Status appended = Append(line); !appended.ok()) return appended;
  auto next = std::make_shared<Snapshot>(*current);
  (is_task ? next->tasks : next->grants) = ids.With(id);
  snapshot_.Publish(std::move(next));
  return true;
}

std::vector<RevocationList::Entry> RevocationList::Entries() const {
  const std::shared_ptr<const Snapshot> snapshot = snapshot_.Current();
  std::vector<Entry> entries;
  entries.reserve(snapshot->grants.size() + snapshot->tasks.size());
  snapshot->grants.ForEach([&entries](const std::string& id) {
    entries.push_back(Entry{.kind = Kind::kGrant, .id = id});
  });
  snapshot->tasks.ForEach([&entries](const std::string& id) {
    entries.push_back(Entry{.kind = Kind::kTask, .id = id});
  });
  return entries;
}

absl::Status RevocationList::Append(std::string_view line) {
  if (sync_failed_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "revocation file ", path_,
        " had a failed sync; restart to reload it before revoking more"));
  }
  for (size_t written = 0; written < line.size();) {
    const ssize_t result =
        ::pwrite(fd_, line.data() + written, line.size() - written,
                 static_cast<off_t>(end_ + written));
    if (result < 0 && errno == EINTR) continue;
    if (result <= 0) {
      const std::string error = result < 0 ? ErrnoText() : "no progress";
      // Best effort: a partial line past end_ is overwritten by the next
      // append anyway, and has no newline, so Open() would drop it.
      if (::ftruncate(fd_, static_cast<off_t>(end_)) != 0) {
        Log(LogLevel::kWarning, "revocation file ", path_,
            ": cannot cut a failed write: ", ErrnoText());
      }
      return absl::UnavailableError(
          absl::StrCat("cannot write revocation file ", path_, ": ", error));
    }
    written += static_cast<size_t>(result);
  }
  if (::fdatasync(fd_) != 0) {
    // Linux may drop the dirty pages and report success on a retry, so
    // nothing written after this is trusted.
    sync_failed_ = true;
    return absl::UnavailableError(
        absl::StrCat("cannot sync revocation file ", path_, ": ", ErrnoText()));
  }
  end_ += static_cast<int64_t>(line.size());
  return absl::OkStatus();
}

bool RevocationList::IsRevoked(std::string_view grant_id,
                               std::string_view task_id) const {
  const Snapshot& snapshot = *snapshot_.Current();
  return snapshot.grants.contains(grant_id) || snapshot.tasks.contains(task_id);
}

size_t RevocationList::revoked_grants() const {
  return snapshot_.Current()->grants.size();
}

size_t RevocationList::revoked_tasks() const {
  return snapshot_.Current()->tasks.size();
}

}  // namespace verdict::grants
