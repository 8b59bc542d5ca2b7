// DirWatcher reports changes anywhere under a tree, including subdirectories
// created or moved in after it started, coalesces bursts, holds a change back
// while a file is open for writing, and watches its directory again after it
// is deleted or moved away and comes back.

#include "server/common/dir_watcher.h"

#include <fcntl.h>
#include <unistd.h>

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

TEST_F(DirWatcherTest, SeesFilesInSubdirectoriesMovedIn) {
  fs::create_directories(dir_ / "a" / "b");
  const int after_mkdir = WaitForChanges(1);
  fs::rename(dir_ / "a", dir_ / "c");
  const int after_move = WaitForChanges(after_mkdir + 1);
  ASSERT_GT(after_move, after_mkdir);
  Write(dir_ / "c" / "b" / "x.yaml", "policy: x");
  EXPECT_GT(WaitForChanges(after_move + 1), after_move);
}

// Records what a watcher reports, for the tests below.
class Recorder {
 public:
  DirWatcherOptions Options(absl::Duration quiet) {
    DirWatcherOptions options;
    options.quiet = quiet;
    options.on_status = [this](const WatchStatus& status) {
      absl::MutexLock lock(&mu_);
      state_ = status.state;
    };
    return options;
  }
  std::function<void()> OnChange() {
    return [this] {
      absl::MutexLock lock(&mu_);
      ++changes_;
    };
  }
  int changes() {
    absl::MutexLock lock(&mu_);
    return changes_;
  }
  // Waits (bounded) for `done(state, changes)`; returns whether it held.
  template <typename Fn>
  bool WaitFor(Fn done, absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    auto held = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return done(state_, changes_);
    };
    return mu_.AwaitWithTimeout(absl::Condition(&held), timeout);
  }

 private:
  absl::Mutex mu_;
  WatchState state_ ABSL_GUARDED_BY(mu_) = WatchState::kOff;
  int changes_ ABSL_GUARDED_BY(mu_) = 0;
};

fs::path FreshDir(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() /
      ("dir_watcher_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(DirWatcherRearmTest, WatchesTheDirectoryAgainAfterItIsRecreated) {
  const fs::path dir = FreshDir("rearm");
  Recorder recorder;
  auto watcher =
      DirWatcher::Start(dir.string(), recorder.Options(absl::Milliseconds(20)),
                        recorder.OnChange());
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  EXPECT_EQ((*watcher)->status().state, WatchState::kWatching);

  fs::remove_all(dir);
  ASSERT_TRUE(recorder.WaitFor([](WatchState state, int changes) {
    return state == WatchState::kDirectoryMissing && changes >= 1;
  }));
  EXPECT_EQ((*watcher)->status().state, WatchState::kDirectoryMissing);
  const int while_missing = recorder.changes();

  fs::create_directories(dir / "sub");
  ASSERT_TRUE(recorder.WaitFor([&](WatchState state, int changes) {
    return state == WatchState::kWatching && changes > while_missing;
  }));
  // The new directory and its subdirectories are watched, not the old one.
  const int rearmed = recorder.changes();
  std::ofstream(dir / "sub" / "a.yaml") << "policy: a";
  EXPECT_TRUE(recorder.WaitFor(
      [&](WatchState, int changes) { return changes > rearmed; }));
  watcher->reset();
  fs::remove_all(dir);
}

TEST(DirWatcherRearmTest, WatchesThePathAgainAfterTheDirectoryIsMovedAway) {
  const fs::path dir = FreshDir("moved");
  const fs::path old = dir.string() + ".old";
  fs::remove_all(old);
  Recorder recorder;
  auto watcher =
      DirWatcher::Start(dir.string(), recorder.Options(absl::Milliseconds(20)),
                        recorder.OnChange());
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  fs::rename(dir, old);
  ASSERT_TRUE(recorder.WaitFor([](WatchState state, int changes) {
    return state == WatchState::kDirectoryMissing && changes >= 1;
  }));
  fs::create_directories(dir);
  // Coming back is a change of its own.
  ASSERT_TRUE(recorder.WaitFor([](WatchState state, int changes) {
    return state == WatchState::kWatching && changes >= 2;
  }));
  // Writes in the moved-away directory are not ours any more.
  const int rearmed = recorder.changes();
  std::ofstream(old / "a.yaml") << "policy: a";
  EXPECT_FALSE(recorder.WaitFor(
      [&](WatchState, int changes) { return changes > rearmed; },
      absl::Milliseconds(300)));
  watcher->reset();
  fs::remove_all(dir);
  fs::remove_all(old);
}

// An in-place writer that pauses longer than the quiet period: nothing is
// reported until it closes the file.
TEST(DirWatcherWritersTest, HoldsTheChangeBackWhileAFileIsOpenForWriting) {
  const fs::path dir = FreshDir("writer");
  Recorder recorder;
  auto watcher =
      DirWatcher::Start(dir.string(), recorder.Options(absl::Milliseconds(30)),
                        recorder.OnChange());
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  const int fd = open((dir / "p.yaml").c_str(),
                      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "policy: a\n", 10), 10);
  // Ten quiet periods with the file open and half written.
  EXPECT_FALSE(
      recorder.WaitFor([](WatchState, int changes) { return changes > 0; },
                       absl::Milliseconds(300)))
      << "reported while a writer had the file open";
  ASSERT_EQ(write(fd, "rules: []\n", 10), 10);
  close(fd);
  EXPECT_TRUE(
      recorder.WaitFor([](WatchState, int changes) { return changes > 0; }));
  watcher->reset();
  fs::remove_all(dir);
}

TEST(DirWatcherWritersTest, DotfilesAreNotWaitedFor) {
  const fs::path dir = FreshDir("dotfile");
  Recorder recorder;
  auto watcher =
      DirWatcher::Start(dir.string(), recorder.Options(absl::Milliseconds(30)),
                        recorder.OnChange());
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  const int fd = open((dir / ".p.yaml.tmp").c_str(),
                      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "policy: a\n", 10), 10);
  EXPECT_TRUE(
      recorder.WaitFor([](WatchState, int changes) { return changes > 0; }));
  close(fd);
  watcher->reset();
  fs::remove_all(dir);
}

TEST(DirWatcherWritersTest, FilesTheConsumerDoesNotReadAreNotWaitedFor) {
  const fs::path dir = FreshDir("ignored");
  Recorder recorder;
  DirWatcherOptions options = recorder.Options(absl::Milliseconds(30));
  options.waits_for = [](std::string_view name) {
    return name.ends_with(".yaml");
  };
  auto watcher =
      DirWatcher::Start(dir.string(), std::move(options), recorder.OnChange());
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  const int fd = open((dir / "server.log").c_str(),
                      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "a log line\n", 11), 11);
  EXPECT_TRUE(
      recorder.WaitFor([](WatchState, int changes) { return changes > 0; }));
  close(fd);
  watcher->reset();
  fs::remove_all(dir);
}

TEST(DirWatcherWritersTest, AWriterThatNeverClosesIsWaitedForAtMostTheBound) {
  const fs::path dir = FreshDir("stuck");
  Recorder recorder;
  DirWatcherOptions options = recorder.Options(absl::Milliseconds(20));
  options.max_writer_wait = absl::Milliseconds(300);
  auto watcher =
      DirWatcher::Start(dir.string(), std::move(options), recorder.OnChange());
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  const int fd = open((dir / "p.yaml").c_str(),
                      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "policy: a\n", 10), 10);
  const absl::Time start = absl::Now();
  EXPECT_TRUE(
      recorder.WaitFor([](WatchState, int changes) { return changes > 0; }));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(250));
  close(fd);
  watcher->reset();
  fs::remove_all(dir);
}

TEST(DirWatcherStartTest, RejectsAMissingDirectory) {
  auto watcher = DirWatcher::Start("/nonexistent/verdict/policies",
                                   absl::Milliseconds(10), [] {});
  EXPECT_FALSE(watcher.ok());
}

}  // namespace
}  // namespace verdict
