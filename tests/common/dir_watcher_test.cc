// DirWatcher reports changes anywhere under a tree, including subdirectories
// created after it started, and coalesces bursts.

#include "server/common/dir_watcher.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace verdict {
namespace {

namespace fs = std::filesystem;

class DirWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("dir_watcher_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto watcher =
        DirWatcher::Start(dir_.string(), absl::Milliseconds(50), [this] {
          absl::MutexLock lock(&mu_);
          ++changes_;
        });
    ASSERT_TRUE(watcher.ok()) << watcher.status();
    watcher_ = std::move(*watcher);
  }
  void TearDown() override {
    watcher_.reset();
    fs::remove_all(dir_);
  }

  // Waits (bounded) until at least `n` callbacks ran; returns the count.
  int WaitForChanges(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return changes_ >= n;
    };
    mu_.AwaitWithTimeout(absl::Condition(&reached), absl::Seconds(10));
    return changes_;
  }

  static void Write(const fs::path& path, const std::string& text) {
    std::ofstream(path) << text;
  }

  fs::path dir_;
  absl::Mutex mu_;
  int changes_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<DirWatcher> watcher_;
};

TEST_F(DirWatcherTest, SeesAFileWrite) {
  Write(dir_ / "a.yaml", "policy: a");
  EXPECT_GE(WaitForChanges(1), 1);
}

TEST_F(DirWatcherTest, SeesFilesInSubdirectoriesCreatedLater) {
  fs::create_directories(dir_ / "team" / "nested");
  const int after_mkdir = WaitForChanges(1);
  ASSERT_GE(after_mkdir, 1);
  Write(dir_ / "team" / "nested" / "b.yaml", "policy: b");
  EXPECT_GT(WaitForChanges(after_mkdir + 1), after_mkdir);
}

TEST_F(DirWatcherTest, SeesRenameOverAFile) {
  Write(dir_ / "c.yaml", "policy: c");
  const int before = WaitForChanges(1);
  Write(dir_ / ".c.yaml.tmp", "policy: c2");
  fs::rename(dir_ / ".c.yaml.tmp", dir_ / "c.yaml");
  EXPECT_GT(WaitForChanges(before + 1), before);
}

TEST_F(DirWatcherTest, CoalescesABurst) {
  for (int i = 0; i < 50; ++i) {
    Write(dir_ / ("f" + std::to_string(i) + ".yaml"), "policy: f");
  }
  const int changes = WaitForChanges(1);
  EXPECT_GE(changes, 1);
  EXPECT_LT(changes, 50) << "each write reported on its own";
}

TEST(DirWatcherStartTest, RejectsAMissingDirectory) {
  auto watcher = DirWatcher::Start("/nonexistent/verdict/policies",
                                   absl::Milliseconds(10), [] {});
  EXPECT_FALSE(watcher.ok());
}

}  // namespace
}  // namespace verdict
