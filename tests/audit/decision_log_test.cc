// The decision log writes every submitted record once, rotates by size
// keeping the configured number of files and counting what rotation deletes,
// counts what it cannot write, and, through its journal, keeps what a killed
// process had taken: the next log on the same path writes it.

#include "server/audit/decision_log.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/audit/journal.h"

namespace verdict::audit {
namespace {

namespace fs = std::filesystem;

fs::path TempDir() {
  fs::path dir =
      fs::temp_directory_path() /
      absl::StrCat(
          "decision_log_test_", ::getpid(), "_",
          ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::vector<std::string> Lines(const fs::path& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(DecisionLogTest, WritesEveryRecordOnceFromManyThreads) {
  const fs::path dir = TempDir();
  DecisionLog log({.path = (dir / "decisions.jsonl").string()}, nullptr);
  constexpr int kThreads = 4, kPerThread = 25000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < kPerThread; ++i) {
        while (!log.Submit(absl::StrCat("{\"n\":", t * kPerThread + i, "}"))) {
          std::this_thread::yield();  // journal full: the test wants them all
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  log.Flush();
  const std::vector<std::string> lines = Lines(dir / "decisions.jsonl");
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kPerThread));
  std::vector<bool> seen(kThreads * kPerThread);
  for (const std::string& line : lines) {
    const int n = std::stoi(line.substr(5));
    EXPECT_FALSE(seen[n]) << "record " << n << " written twice";
    seen[n] = true;
  }
  EXPECT_EQ(log.written(), static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_TRUE(log.Healthy());
  fs::remove_all(dir);
}

TEST(DecisionLogTest, RotatesBySizeAndCountsWhatItDeletes) {
  const fs::path dir = TempDir();
  const fs::path path = dir / "decisions.jsonl";
  metrics::Metrics metrics;
  DecisionLog log({.path = path.string(), .max_bytes = 2000, .keep_files = 3},
                  &metrics);
  const std::string record(99, 'x');  // 100 bytes with the newline
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(log.Submit(record));
    if (i % 10 == 9) log.Flush();  // let rotation happen between batches
  }
  log.Flush();
  EXPECT_TRUE(fs::exists(path.string() + ".1"));
  EXPECT_TRUE(fs::exists(path.string() + ".2"));
  EXPECT_TRUE(fs::exists(path.string() + ".3"));
  EXPECT_FALSE(fs::exists(path.string() + ".4"));
  uint64_t kept = Lines(path).size();
  for (int i = 1; i <= 3; ++i) {
    const std::string file = path.string() + "." + std::to_string(i);
    EXPECT_LE(fs::file_size(file), 2000u + 1000u)
        << "a rotated file grew far past max_bytes";
    kept += Lines(file).size();
  }
  EXPECT_EQ(log.written(), 200u);
  // Every record is either still on disk or counted as rotated away.
  EXPECT_EQ(kept + log.rotated_away(), 200u);
  EXPECT_GT(log.rotated_away(), 0u);
  fs::remove_all(dir);
}

TEST(DecisionLogTest, UnwritableFileIsUnhealthyAndCountsDrops) {
  const fs::path dir = TempDir();
  const fs::path missing = dir / "no-such-dir" / "decisions.jsonl";
  DecisionLog log(
      {.path = missing.string(), .retry_interval = absl::ZeroDuration()},
      nullptr);
  EXPECT_FALSE(log.Healthy());
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(log.Submit("{}"));
  EXPECT_EQ(log.dropped(), 10u);
  EXPECT_EQ(log.written(), 0u);

  fs::create_directories(missing.parent_path());
  // The writer retries the file on its own; no record is needed for that.
  for (int i = 0; i < 2000 && !log.Healthy(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(log.Healthy()) << "the log should recover once writable";
  ASSERT_TRUE(log.Submit("{}"));
  log.Flush();
  EXPECT_EQ(log.written(), 1u);
  EXPECT_EQ(Lines(missing).size(), 1u);
  fs::remove_all(dir);
}

// A child process takes records and is killed with SIGKILL before its writer
// may have written them; a log opened on the same path afterwards has every
// record the child's Submit() accepted, exactly once.
TEST(DecisionLogTest, RecordsTakenBeforeSigkillAreRecoveredOnce) {
  const fs::path dir = TempDir();
  const fs::path path = dir / "decisions.jsonl";
  constexpr int kRecords = 20000;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives a failed test
    DecisionLog log({.path = path.string()}, nullptr);
    for (int i = 0; i < kRecords; ++i) {
      if (!log.Submit(absl::StrCat("{\"n\":", i, "}"))) ::_exit(3);
    }
    const char done = 1;
    (void)::write(ready[1], &done, 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char done = 0;
  ASSERT_EQ(::read(ready[0], &done, 1), 1) << "the child could not submit";
  ::close(ready[0]);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));

  {
    DecisionLog log({.path = path.string()}, nullptr);
    const JournalRecovery recovery = log.recovery();
    const std::vector<std::string> lines = Lines(path);
    ASSERT_EQ(lines.size(), static_cast<size_t>(kRecords))
        << "recovered " << recovery.records;
    std::set<int> seen;
    for (const std::string& line : lines) {
      EXPECT_TRUE(seen.insert(std::stoi(line.substr(5))).second) << line;
    }
    EXPECT_EQ(seen.size(), static_cast<size_t>(kRecords));
    EXPECT_EQ(recovery.unfinished, 0u);
    EXPECT_TRUE(log.Healthy());
  }
  // A second start finds nothing more to recover.
  DecisionLog again({.path = path.string()}, nullptr);
  EXPECT_EQ(again.recovery().records, 0u);
  EXPECT_EQ(Lines(path).size(), static_cast<size_t>(kRecords));
  fs::remove_all(dir);
}

TEST(DecisionLogTest, ASecondLogOnTheSamePathStaysUnhealthy) {
  const fs::path dir = TempDir();
  const std::string path = (dir / "decisions.jsonl").string();
  DecisionLog first({.path = path}, nullptr);
  ASSERT_TRUE(first.Healthy());
  {
    DecisionLog second({.path = path}, nullptr);
    EXPECT_FALSE(second.Healthy());
    EXPECT_FALSE(second.Submit("{}"));
    EXPECT_EQ(second.dropped(), 1u);
  }
  ASSERT_TRUE(first.Submit("{\"n\":1}"));
  first.Flush();
  EXPECT_EQ(Lines(path).size(), 1u);
  fs::remove_all(dir);
}

TEST(JournalTest, WrapsAroundAndKeepsOrder) {
  absl::StatusOr<std::unique_ptr<Journal>> journal =
      Journal::Open("", 0, nullptr);
  ASSERT_TRUE(journal.ok()) << journal.status();
  const size_t capacity = (*journal)->capacity();
  std::string_view record;
  int next_expected = 0;
  // Several laps of records of varying sizes, so some wrap the end.
  for (int i = 0; i < 20000; ++i) {
    const std::string text = absl::StrCat(i, std::string(i % 997, 'y'));
    while (!(*journal)->Append(text)) {
      ASSERT_TRUE((*journal)->Next(&record));
      ASSERT_EQ(record.substr(0, record.find('y') == std::string_view::npos
                                     ? record.size() - 1
                                     : record.find('y')),
                std::to_string(next_expected));
      ++next_expected;
      (*journal)->Release();
    }
  }
  while ((*journal)->Next(&record)) {
    EXPECT_EQ(record.back(), '\n');
    ++next_expected;
  }
  EXPECT_EQ(next_expected, 20000);
  EXPECT_GT((*journal)->reserved(), 3 * capacity) << "it never wrapped";
}

TEST(JournalTest, OpenRecoversOnlyUnreleasedRecords) {
  const fs::path dir = TempDir();
  const std::string path = (dir / "j").string();
  auto never = [](const JournalRecovery&, std::string_view) {
    ADD_FAILURE() << "a new journal has nothing to recover";
    return true;
  };
  {
    absl::StatusOr<std::unique_ptr<Journal>> journal =
        Journal::Open(path, 0, never);
    ASSERT_TRUE(journal.ok()) << journal.status();
    ASSERT_TRUE((*journal)->Append("released"));
    std::string_view record;
    ASSERT_TRUE((*journal)->Next(&record));
    (*journal)->Release();
    ASSERT_TRUE((*journal)->Append("kept-1"));
    ASSERT_TRUE((*journal)->Append("kept-2"));
  }
  std::string found;
  JournalRecovery recovery;
  auto keep = [&](const JournalRecovery& r, std::string_view records) {
    recovery = r;
    found = std::string(records);
    return true;
  };
  {
    absl::StatusOr<std::unique_ptr<Journal>> journal =
        Journal::Open(path, 0, keep);
    ASSERT_TRUE(journal.ok()) << journal.status();
    EXPECT_EQ(recovery.records, 2u);
    EXPECT_EQ(recovery.unfinished, 0u);
    EXPECT_EQ(found, "kept-1\nkept-2\n");
    // Locked while open.
    EXPECT_EQ(Journal::Open(path, 0, never).status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
  // Emptied once recovered.
  EXPECT_TRUE(Journal::Open(path, 0, never).ok());

  std::ofstream(dir / "not-a-journal") << "hello";
  EXPECT_EQ(
      Journal::Open((dir / "not-a-journal").string(), 0, never).status().code(),
      absl::StatusCode::kDataLoss);
  fs::remove_all(dir);
}

TEST(JournalTest, RefusesWhenFullAndWhenTooLarge) {
  absl::StatusOr<std::unique_ptr<Journal>> journal =
      Journal::Open("", 1 << 20, nullptr);
  ASSERT_TRUE(journal.ok()) << journal.status();
  const std::string record(Journal::kMaxRecordBytes, 'x');
  int taken = 0;
  while ((*journal)->Append(record)) ++taken;
  // Each takes its bytes, a newline, a 16-byte header and padding.
  EXPECT_EQ(taken, static_cast<int>((1 << 20) / (16 + record.size() + 8)));
  std::string_view out;
  ASSERT_TRUE((*journal)->Next(&out));
  (*journal)->Release();
  EXPECT_TRUE((*journal)->Append(record)) << "released space is reused";
  EXPECT_FALSE(
      (*journal)->Append(std::string(Journal::kMaxRecordBytes + 1, 'x')));
}

}  // namespace
}  // namespace verdict::audit
