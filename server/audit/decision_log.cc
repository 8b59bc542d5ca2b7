#include "server/audit/decision_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/log.h"

namespace verdict::audit {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxBatchBytes = 1 << 20;
// The journal holds what the writer has not taken, durably, so waking it
// often buys nothing but freshness of the file.
constexpr absl::Duration kIdleWait = absl::Milliseconds(20);

// A log that is not a regular file (a device such as /dev/null) has nothing
// to recover into and gets an anonymous journal.
std::string JournalPathFor(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) return "";
  return path + "-journal";
}

// The records (lines) of the file at `path`.
uint64_t CountRecords(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  std::string buffer(1 << 20, '\0');
  uint64_t lines = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    lines += std::count(buffer.data(), buffer.data() + n, '\n');
  }
  ::close(fd);
  return lines;
}

// The "time" of the first record of the file at `path`.
std::optional<absl::Time> FirstRecordTime(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buffer[512];
  const ssize_t n = ::pread(fd, buffer, sizeof(buffer), 0);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  const std::string_view head(buffer, static_cast<size_t>(n));
  constexpr std::string_view kKey = "\"time\":\"";
  const size_t start = head.find(kKey);
  if (start == std::string_view::npos) return std::nullopt;
  const size_t end = head.find('"', start + kKey.size());
  if (end == std::string_view::npos) return std::nullopt;
  absl::Time time;
  std::string error;
  const std::string_view text =
      head.substr(start + kKey.size(), end - start - kKey.size());
  if (!absl::ParseTime(absl::RFC3339_full,
                       absl::string_view(text.data(), text.size()), &time,
                       &error)) {
    return std::nullopt;
  }
  return time;
}

}  // namespace

DecisionLog::DecisionLog(DecisionLogOptions options, metrics::Metrics* metrics)
    : options_(std::move(options)),
      journal_path_(JournalPathFor(options_.path)),
      metrics_(metrics) {
  // Before the first decision: an unwritable log is unhealthy from the start,
  // and what the previous run answered is in the file before this one
  // answers anything.
  TryStart();
  writer_ = std::thread([this] { Run(); });
  syncer_ = std::thread([this] { SyncLoop(); });
}

DecisionLog::~DecisionLog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  writer_.join();
  {
    absl::MutexLock lock(&sync_mu_);
    sync_stopping_ = true;
  }
  syncer_.join();
  if (fd_ >= 0) ::close(fd_);
}

bool DecisionLog::Submit(std::string_view record) {
  Journal* journal = journal_.load(std::memory_order_acquire);
  if (journal != nullptr && healthy_.load(std::memory_order_relaxed) &&
      journal->Append(record)) {
    return true;
  }
  Drop(1);
  return false;
}

void DecisionLog::Flush() {
  Journal* journal = journal_.load(std::memory_order_acquire);
  if (journal == nullptr) return;
  const uint64_t target = journal->reserved();
  absl::MutexLock lock(&mu_);
  flush_wanted_ = true;
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return released_ >= target;
  };
  mu_.Await(absl::Condition(&done));
  flush_wanted_ = false;
}

JournalRecovery DecisionLog::recovery() const {
  absl::MutexLock lock(&mu_);
  return recovery_;
}

void DecisionLog::Run() {
  std::string batch;
  batch.reserve(kMaxBatchBytes + Journal::kMaxRecordBytes + 1);
  for (;;) {
    Journal* journal = journal_.load(std::memory_order_acquire);
    if (journal == nullptr) {
      TryStart();
    } else if (fd_ < 0 && EnsureOpen()) {
      healthy_.store(true);
    }
    uint64_t records = 0;
    batch.clear();
    std::string_view record;
    while (journal != nullptr && batch.size() < kMaxBatchBytes &&
           journal->Next(&record)) {
      batch.append(record);
      ++records;
    }
    if (records > 0) {
      if (fd_ >= 0) {
        journal->NoteWrite(file_id_, static_cast<uint64_t>(file_bytes_));
      }
      WriteBatch(batch, records);
      journal->Release();
      // After the release, so a kill in between never leaves the note about
      // a file that has been renamed.
      RotateIfNeeded();
      absl::MutexLock lock(&mu_);
      released_ = journal->released();
      continue;
    }
    // Idle: sleep until a flush or a stop asks, or a short while passes; the
    // request path never signals, so it never touches this mutex.
    absl::MutexLock lock(&mu_);
    if (stopping_) break;
    auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || flush_wanted_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&wake), kIdleWait);
  }
  if (fd_ >= 0 && regular_file_) ::fdatasync(fd_);
}

void DecisionLog::SyncLoop() {
  absl::MutexLock lock(&sync_mu_);
  while (!sync_stopping_) {
    sync_mu_.AwaitWithTimeout(absl::Condition(&sync_stopping_),
                              options_.sync_interval);
    // Under sync_mu_, so the writer cannot close the file meanwhile; it goes
    // on writing, and the journal absorbs a slow disk.
    if (sync_fd_ >= 0 && unsynced_.exchange(false)) ::fdatasync(sync_fd_);
  }
}

void DecisionLog::SetSyncTarget(int fd) {
  absl::MutexLock lock(&sync_mu_);
  sync_fd_ = fd;
}

void DecisionLog::CloseFile() {
  SetSyncTarget(-1);
  ::close(fd_);
  fd_ = -1;
}

void DecisionLog::TryStart() {
  if (absl::Now() < next_open_attempt_ || !EnsureOpen()) return;
  absl::StatusOr<std::unique_ptr<Journal>> journal = Journal::Open(
      journal_path_, options_.buffer_bytes,
      [this](const JournalRecovery& found, std::string_view records) {
        return Recover(found, records);
      });
  if (!journal.ok()) {
    next_open_attempt_ = absl::Now() + options_.retry_interval;
    healthy_.store(false);
    if (!file_failed_) {
      file_failed_ = true;
      Log(LogLevel::kError, "decision log: ", journal.status().message());
    }
    return;
  }
  journal_owner_ = *std::move(journal);
  journal_.store(journal_owner_.get(), std::memory_order_release);
  healthy_.store(true);
  UpdateOldestRecord();
}

bool DecisionLog::EnsureOpen() {
  if (fd_ >= 0) return true;
  const absl::Time now = absl::Now();
  if (now < next_open_attempt_) return false;
  fd_ = ::open(options_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
               0640);
  if (fd_ < 0) {
    next_open_attempt_ = now + options_.retry_interval;
    healthy_.store(false);
    if (!file_failed_) {
      file_failed_ = true;
      Log(LogLevel::kError, "decision log ", options_.path,
          " cannot be opened: ", std::strerror(errno));
    }
    return false;
  }
  struct stat st;
  regular_file_ = ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
  file_bytes_ = regular_file_ ? static_cast<int64_t>(st.st_size) : 0;
  file_id_ = regular_file_ ? static_cast<uint64_t>(st.st_ino) : 0;
  if (regular_file_) SetSyncTarget(fd_);
  if (file_records_.empty()) {
    // Files of an earlier run are counted if rotation ever deletes them.
    file_records_.assign(options_.keep_files + 1, -1);
    if (file_bytes_ == 0) file_records_[0] = 0;
  }
  return true;
}

bool DecisionLog::Recover(JournalRecovery found, std::string_view records) {
  // The previous writer may have been killed in the middle of writing the
  // first records: what reached the file is not written again.
  if (found.write_noted && found.write_file == file_id_ &&
      static_cast<uint64_t>(file_bytes_) > found.write_offset) {
    const size_t in_file = std::min<uint64_t>(
        static_cast<uint64_t>(file_bytes_) - found.write_offset,
        records.size());
    found.records -= static_cast<uint64_t>(
        std::count(records.data(), records.data() + in_file, '\n'));
    records.remove_prefix(in_file);
  }
  if (found.records == 0 && found.unfinished == 0) return true;
  if (!WriteAll(records) || (regular_file_ && ::fdatasync(fd_) != 0)) {
    // Left in the journal for the next attempt: it is not emptied until its
    // records are in the file.
    if (regular_file_) (void)::ftruncate(fd_, file_bytes_);
    Log(LogLevel::kError, "decision log ", options_.path,
        " cannot take the records recovered from ", journal_path_, ": ",
        std::strerror(errno));
    CloseFile();
    return false;
  }
  file_bytes_ += static_cast<int64_t>(records.size());
  if (file_records_[0] >= 0) {
    file_records_[0] += static_cast<int64_t>(found.records);
  }
  {
    absl::MutexLock lock(&mu_);
    recovery_ = found;
  }
  if (metrics_ != nullptr) metrics_->CountAuditRecovered(found.records);
  Log(LogLevel::kWarning,
      "decision log: the previous verdictd stopped before writing ",
      found.records, " answered decisions; recovered them from ", journal_path_,
      " into ", options_.path,
      found.unfinished == 0
          ? ""
          : absl::StrCat("; ", found.unfinished,
                         " records were never completed (their decisions "
                         "were never answered)"));
  RotateIfNeeded();
  return true;
}

bool DecisionLog::WriteAll(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void DecisionLog::WriteBatch(const std::string& batch, uint64_t records) {
  if (!EnsureOpen()) {
    Drop(records);
    return;
  }
  if (!WriteAll(batch)) {
    const int error = errno;
    // A torn line would corrupt the record after it.
    if (regular_file_) (void)::ftruncate(fd_, file_bytes_);
    healthy_.store(false);
    if (!file_failed_) {
      file_failed_ = true;
      Log(LogLevel::kError, "decision log ", options_.path,
          " write failed: ", std::strerror(error));
    }
    CloseFile();
    next_open_attempt_ = absl::Now() + options_.retry_interval;
    Drop(records);
    return;
  }
  if (file_failed_) {
    file_failed_ = false;
    Log(LogLevel::kInfo, "decision log ", options_.path, " is writable again");
  }
  written_.fetch_add(records);
  if (file_records_[0] >= 0) file_records_[0] += static_cast<int64_t>(records);
  if (metrics_ != nullptr) metrics_->CountAuditRecord(records);
  file_bytes_ += static_cast<int64_t>(batch.size());
  unsynced_.store(true, std::memory_order_relaxed);
}

void DecisionLog::RotateIfNeeded() {
  if (!regular_file_ || file_bytes_ < options_.max_bytes) return;
  ::fdatasync(fd_);
  CloseFile();
  const std::string& path = options_.path;
  const std::string oldest = options_.keep_files > 0
                                 ? absl::StrCat(path, ".", options_.keep_files)
                                 : path;
  std::error_code ignored;
  if (fs::exists(oldest, ignored)) {
    const int64_t known = file_records_.back();
    const uint64_t records =
        known >= 0 ? static_cast<uint64_t>(known) : CountRecords(oldest);
    fs::remove(oldest, ignored);
    rotated_away_.fetch_add(records);
    if (metrics_ != nullptr) metrics_->CountAuditRotatedAway(records);
    Log(LogLevel::kInfo, "decision log: rotation deleted ", oldest, " (",
        records, " records)");
  }
  for (int i = options_.keep_files - 1; i >= 1; --i) {
    fs::rename(absl::StrCat(path, ".", i), absl::StrCat(path, ".", i + 1),
               ignored);
  }
  if (options_.keep_files > 0) {
    fs::rename(path, absl::StrCat(path, ".1"), ignored);
  }
  file_records_.insert(file_records_.begin(), 0);  // the new live file
  file_records_.pop_back();
  next_open_attempt_ = absl::InfinitePast();
  EnsureOpen();
  UpdateOldestRecord();
}

void DecisionLog::UpdateOldestRecord() {
  if (metrics_ == nullptr || !regular_file_) return;
  for (int i = options_.keep_files; i >= 0; --i) {
    const std::string file =
        i == 0 ? options_.path : absl::StrCat(options_.path, ".", i);
    if (std::optional<absl::Time> time = FirstRecordTime(file)) {
      metrics_->SetAuditOldestRecord(*time);
      return;
    }
  }
}

void DecisionLog::Drop(uint64_t records) {
  dropped_.fetch_add(records);
  if (metrics_ != nullptr) metrics_->CountAuditDropped(records);
}

}  // namespace verdict::audit
