// The decision log writes every submitted record once, rotates by size
// keeping the configured number of files, and counts what it cannot write.

#include "server/audit/decision_log.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/audit/bounded_queue.h"

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
  constexpr int kThreads = 4, kPerThread = 2500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < kPerThread; ++i) {
        while (!log.Submit(absl::StrCat("{\"n\":", t * kPerThread + i, "}"))) {
          std::this_thread::yield();  // queue full: the test wants them all
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

TEST(DecisionLogTest, RotatesBySizeAndKeepsTheConfiguredFiles) {
  const fs::path dir = TempDir();
  const fs::path path = dir / "decisions.jsonl";
  DecisionLog log({.path = path.string(), .max_bytes = 2000, .keep_files = 3},
                  nullptr);
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
  for (int i = 1; i <= 3; ++i) {
    EXPECT_LE(fs::file_size(path.string() + "." + std::to_string(i)),
              2000u + 1000u)
        << "a rotated file grew far past max_bytes";
  }
  EXPECT_EQ(log.written(), 200u);
  fs::remove_all(dir);
}

TEST(DecisionLogTest, UnwritableFileIsUnhealthyAndCountsDrops) {
  const fs::path dir = TempDir();
  const fs::path missing = dir / "no-such-dir" / "decisions.jsonl";
  DecisionLog log(
      {.path = missing.string(), .retry_interval = absl::ZeroDuration()},
      nullptr);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log.Submit("{}"));
  log.Flush();
  EXPECT_FALSE(log.Healthy());
  EXPECT_EQ(log.dropped(), 10u);
  EXPECT_EQ(log.written(), 0u);

  fs::create_directories(missing.parent_path());
  ASSERT_TRUE(log.Submit("{}"));
  log.Flush();
  EXPECT_TRUE(log.Healthy()) << "the log should recover once writable";
  EXPECT_EQ(log.written(), 1u);
  fs::remove_all(dir);
}

TEST(BoundedQueueTest, RefusesWhenFullAndKeepsOrder) {
  BoundedQueue<int> queue(4);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(queue.TryPush(i));
  EXPECT_FALSE(queue.TryPush(4));
  int value = -1;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(queue.TryPop(&value));
    EXPECT_EQ(value, i);
  }
  EXPECT_FALSE(queue.TryPop(&value));
  EXPECT_TRUE(queue.TryPush(5));
}

}  // namespace
}  // namespace verdict::audit
