#include "server/audit/decision_log.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/log.h"

namespace verdict::audit {
namespace {

constexpr size_t kMaxBatchRecords = 4096;
constexpr absl::Duration kIdleWait = absl::Milliseconds(5);

}  // namespace

DecisionLog::DecisionLog(DecisionLogOptions options, metrics::Metrics* metrics)
    : options_(std::move(options)),
      metrics_(metrics),
      queue_(options_.queue_capacity) {
  // Opened before the first decision, so an unwritable log is unhealthy from
  // the start rather than after its first record is lost.
  EnsureOpen();
  writer_ = std::thread([this] { Run(); });
}

DecisionLog::~DecisionLog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  writer_.join();
  if (file_ != nullptr) std::fclose(file_);
}

bool DecisionLog::Submit(std::string record) {
  if (!queue_.TryPush(std::move(record))) {
    dropped_.fetch_add(1);
    if (metrics_ != nullptr) metrics_->CountAuditDropped();
    return false;
  }
  submitted_.fetch_add(1, std::memory_order_release);
  return true;
}

void DecisionLog::Flush() {
  const uint64_t target = submitted_.load(std::memory_order_acquire);
  absl::MutexLock lock(&mu_);
  flush_wanted_ = true;
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return processed_ >= target;
  };
  mu_.Await(absl::Condition(&done));
  flush_wanted_ = false;
}

void DecisionLog::Run() {
  std::string batch;
  std::string record;
  for (;;) {
    uint64_t records = 0;
    batch.clear();
    while (records < kMaxBatchRecords && queue_.TryPop(&record)) {
      batch.append(record);
      batch.push_back('\n');
      ++records;
    }
    if (records > 0) {
      WriteBatch(batch, records);
      absl::MutexLock lock(&mu_);
      processed_ += records;
      continue;
    }
    // Idle: sleep until a flush or a stop asks, or a short while passes; the
    // request path never signals, so it never touches this mutex.
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || flush_wanted_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&wake), kIdleWait);
  }
}

bool DecisionLog::EnsureOpen() {
  if (file_ != nullptr) return true;
  const absl::Time now = absl::Now();
  if (now < next_open_attempt_) return false;
  file_ = std::fopen(options_.path.c_str(), "ae");
  if (file_ == nullptr) {
    next_open_attempt_ = now + options_.retry_interval;
    if (healthy_.exchange(false)) {
      Log(LogLevel::kError, "decision log ", options_.path,
          " cannot be opened: ", std::strerror(errno));
    }
    return false;
  }
  std::error_code error;
  const auto size = std::filesystem::file_size(options_.path, error);
  file_bytes_ = error ? 0 : static_cast<int64_t>(size);
  return true;
}

void DecisionLog::WriteBatch(const std::string& batch, uint64_t records) {
  if (!EnsureOpen()) {
    Drop(records);
    return;
  }
  if (std::fwrite(batch.data(), 1, batch.size(), file_) != batch.size() ||
      std::fflush(file_) != 0) {
    Log(LogLevel::kError, "decision log ", options_.path,
        " write failed: ", std::strerror(errno));
    healthy_.store(false);
    std::fclose(file_);
    file_ = nullptr;
    next_open_attempt_ = absl::Now() + options_.retry_interval;
    Drop(records);
    return;
  }
  if (!healthy_.exchange(true)) {
    Log(LogLevel::kInfo, "decision log ", options_.path, " is writable again");
  }
  written_.fetch_add(records);
  if (metrics_ != nullptr) {
    for (uint64_t i = 0; i < records; ++i) metrics_->CountAuditRecord();
  }
  file_bytes_ += static_cast<int64_t>(batch.size());
  RotateIfNeeded();
}

void DecisionLog::RotateIfNeeded() {
  if (file_bytes_ < options_.max_bytes) return;
  std::fclose(file_);
  file_ = nullptr;
  std::error_code ignored;
  const std::string& path = options_.path;
  std::filesystem::remove(absl::StrCat(path, ".", options_.keep_files),
                          ignored);
  for (int i = options_.keep_files - 1; i >= 1; --i) {
    std::filesystem::rename(absl::StrCat(path, ".", i),
                            absl::StrCat(path, ".", i + 1), ignored);
  }
  if (options_.keep_files > 0) {
    std::filesystem::rename(path, absl::StrCat(path, ".1"), ignored);
  } else {
    std::filesystem::remove(path, ignored);
  }
  EnsureOpen();
}

void DecisionLog::Drop(uint64_t records) {
  dropped_.fetch_add(records);
  if (metrics_ != nullptr) {
    for (uint64_t i = 0; i < records; ++i) metrics_->CountAuditDropped();
  }
}

}  // namespace verdict::audit
