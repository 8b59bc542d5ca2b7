// RevocationList: revocations are written as documented, survive a reopen,
// are idempotent; a torn last line is dropped and cut, any other bad line
// fails Open with path:line; concurrent readers see every acknowledged
// revocation while a writer appends (run under TSan too).

#include "server/grants/revocations.h"

#include <sys/stat.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/model/request.h"
#include "tests/grants/grant_test_keys.h"

namespace verdict::grants {
namespace {

using ::verdict::model::kMaxNameBytes;

using ::testing::HasSubstr;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

class RevocationListTest : public ::testing::Test {
 protected:
  std::unique_ptr<RevocationList> OpenOrDie() {
    absl::StatusOr<std::unique_ptr<RevocationList>> list =
        RevocationList::Open(path_);
    EXPECT_TRUE(list.ok()) << list.status();
    return list.ok() ? *std::move(list) : nullptr;
  }

  TempDir dir_;
  const std::string path_ = dir_.File("revocations.log");
};

TEST_F(RevocationListTest, CreatesAnEmptyPrivateFile) {
  std::unique_ptr<RevocationList> list = OpenOrDie();
  ASSERT_NE(list, nullptr);
  EXPECT_EQ(list->revoked_grants(), 0u);
  EXPECT_EQ(list->revoked_tasks(), 0u);
  EXPECT_FALSE(list->IsRevoked("g1", "t1"));
  EXPECT_EQ(list->path(), path_);
  struct stat info;
  ASSERT_EQ(::stat(path_.c_str(), &info), 0);
  EXPECT_EQ(info.st_size, 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST_F(RevocationListTest, RevokesByGrantAndByTaskAndWritesOneLineEach) {
  std::unique_ptr<RevocationList> list = OpenOrDie();
  ASSERT_TRUE(list->RevokeGrant("g1", kNow).ok());
  ASSERT_TRUE(list->RevokeTask("task \"7\"", kNow + absl::Seconds(5)).ok());
  EXPECT_TRUE(list->IsRevoked("g1", "other-task"));
  EXPECT_TRUE(list->IsRevoked("g2", "task \"7\""));
  EXPECT_FALSE(list->IsRevoked("g2", "other-task"));
  EXPECT_FALSE(list->IsRevoked("", ""));
  // A grant id is not a task id, nor the other way round.
  EXPECT_FALSE(list->IsRevoked("task \"7\"", "g1"));
  EXPECT_EQ(list->revoked_grants(), 1u);
  EXPECT_EQ(list->revoked_tasks(), 1u);
  EXPECT_EQ(ReadFile(path_),
            "{\"grant\":\"g1\",\"at\":1800000000}\n"
            "{\"task\":\"task \\\"7\\\"\",\"at\":1800000005}\n");
}

TEST_F(RevocationListTest, RevokingTwiceWritesOnce) {
  std::unique_ptr<RevocationList> list = OpenOrDie();
  ASSERT_TRUE(list->RevokeGrant("g1", kNow).ok());
  ASSERT_TRUE(list->RevokeGrant("g1", kNow + absl::Seconds(1)).ok());
  ASSERT_TRUE(list->RevokeTask("t1", kNow).ok());
  ASSERT_TRUE(list->RevokeTask("t1", kNow).ok());
  EXPECT_EQ(list->revoked_grants(), 1u);
  EXPECT_EQ(list->revoked_tasks(), 1u);
  EXPECT_EQ(ReadFile(path_),
            "{\"grant\":\"g1\",\"at\":1800000000}\n"
            "{\"task\":\"t1\",\"at\":1800000000}\n");
}

TEST_F(RevocationListTest, RefusesIdsOutOfBounds) {
  std::unique_ptr<RevocationList> list = OpenOrDie();
  EXPECT_EQ(list->RevokeGrant("", kNow).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(list->RevokeTask(std::string(kMaxNameBytes + 1, 't'), kNow).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(list->RevokeTask("bad\xff", kNow).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(list->RevokeTask(std::string(kMaxNameBytes, 't'), kNow).ok());
  EXPECT_EQ(list->revoked_tasks(), 1u);
}

TEST_F(RevocationListTest, RecordSaysWhatIsNewAndEntriesListsEverything) {
  std::unique_ptr<RevocationList> list = OpenOrDie();
  const absl::Time original = kNow - absl::Hours(1);
  absl::StatusOr<bool> added =
      list->Record(RevocationList::Kind::kTask, "t1", original);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_TRUE(*added);
  added = list->Record(RevocationList::Kind::kTask, "t1", kNow);
  ASSERT_TRUE(added.ok());
  EXPECT_FALSE(*added);
  ASSERT_TRUE(list->Record(RevocationList::Kind::kGrant, "g1", kNow).ok());
  EXPECT_EQ(
      list->Record(RevocationList::Kind::kGrant, "", kNow).status().code(),
      absl::StatusCode::kInvalidArgument);
  // The original time is what the file keeps.
  EXPECT_EQ(ReadFile(path_),
            "{\"task\":\"t1\",\"at\":1799996400}\n"
            "{\"grant\":\"g1\",\"at\":1800000000}\n");
  std::vector<std::string> entries;
  for (const RevocationList::Entry& entry : list->Entries()) {
    entries.push_back(
        (entry.kind == RevocationList::Kind::kTask ? "task:" : "grant:") +
        entry.id);
  }
  EXPECT_THAT(entries, ::testing::UnorderedElementsAre("task:t1", "grant:g1"));
  EXPECT_TRUE(
      RevocationList::ValidateId(RevocationList::Kind::kTask, "t").ok());
  EXPECT_FALSE(
      RevocationList::ValidateId(RevocationList::Kind::kTask, "bad\xff").ok());
}

TEST_F(RevocationListTest, SurvivesReopen) {
  {
    std::unique_ptr<RevocationList> list = OpenOrDie();
    // Enough to fold the recent ids into the shared set several times.
    for (int i = 0; i < 300; ++i) {
      ASSERT_TRUE(list->RevokeGrant("g" + std::to_string(i), kNow).ok());
    }
    ASSERT_TRUE(list->RevokeTask("t1", kNow).ok());
    for (int i = 0; i < 300; ++i) {
      ASSERT_TRUE(list->IsRevoked("g" + std::to_string(i), ""));
    }
    EXPECT_EQ(list->revoked_grants(), 300u);
  }
  std::unique_ptr<RevocationList> reopened = OpenOrDie();
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->revoked_grants(), 300u);
  EXPECT_EQ(reopened->revoked_tasks(), 1u);
  for (int i = 0; i < 300; ++i) {
    EXPECT_TRUE(reopened->IsRevoked("g" + std::to_string(i), "x"));
  }
  EXPECT_TRUE(reopened->IsRevoked("new", "t1"));
  EXPECT_FALSE(reopened->IsRevoked("g300", "t2"));
  // Appends continue after what was loaded.
  ASSERT_TRUE(reopened->RevokeGrant("g300", kNow).ok());
  reopened.reset();
  EXPECT_TRUE(OpenOrDie()->IsRevoked("g300", ""));
}

TEST_F(RevocationListTest, DropsAndCutsATornLastLine) {
  const std::string complete =
      "{\"grant\":\"g1\",\"at\":1800000000}\n"
      "\n"
      "{\"task\":\"t1\",\"at\":1800000000}\n";
  // A crash in the middle of appending g2's record.
  WriteFile(path_, complete + "{\"grant\":\"g2\",\"a");
  {
    std::unique_ptr<RevocationList> list = OpenOrDie();
    ASSERT_NE(list, nullptr);
    EXPECT_TRUE(list->IsRevoked("g1", ""));
    EXPECT_TRUE(list->IsRevoked("", "t1"));
    EXPECT_FALSE(list->IsRevoked("g2", ""));
    EXPECT_EQ(ReadFile(path_), complete);
    ASSERT_TRUE(list->RevokeGrant("g3", kNow).ok());
  }
  EXPECT_EQ(ReadFile(path_),
            complete + "{\"grant\":\"g3\",\"at\":1800000000}\n");
  std::unique_ptr<RevocationList> reopened = OpenOrDie();
  ASSERT_NE(reopened, nullptr);
  EXPECT_TRUE(reopened->IsRevoked("g3", ""));
  EXPECT_EQ(reopened->revoked_grants(), 2u);
}

TEST_F(RevocationListTest, EvenAWholeRecordWithoutItsNewlineIsTorn) {
  // Its append never finished (the newline and fdatasync come first), so it
  // was never acknowledged.
  WriteFile(path_, "{\"grant\":\"g1\",\"at\":1800000000}");
  std::unique_ptr<RevocationList> list = OpenOrDie();
  ASSERT_NE(list, nullptr);
  EXPECT_FALSE(list->IsRevoked("g1", ""));
  EXPECT_EQ(ReadFile(path_), "");
}

TEST_F(RevocationListTest, ACorruptLineFailsOpenWithPathAndLine) {
  const std::string good = "{\"grant\":\"g1\",\"at\":1800000000}\n";
  const std::vector<std::string> bad_lines = {
      "not json",
      "[\"g1\"]",
      "{\"grant\":\"g2\"}",
      "{\"at\":1800000000}",
      "{\"grant\":\"g2\",\"task\":\"t\",\"at\":1}",
      "{\"grant\":\"g2\",\"at\":1,\"by\":\"admin\"}",
      "{\"grant\":\"g2\",\"at\":-1}",
      "{\"grant\":\"g2\",\"at\":1.5}",
      "{\"grant\":\"g2\",\"at\":\"1\"}",
      "{\"grant\":\"\",\"at\":1}",
      "{\"grant\":7,\"at\":1}",
      "{\"grant\":\"g2\",\"grant\":\"g3\",\"at\":1}",
      "{\"grant\":\"g2\",\"at\":1} trailing",
      "{\"revoke\":\"g2\",\"at\":1}",
  };
  for (const std::string& bad : bad_lines) {
    WriteFile(path_, good + bad + "\n" + good);
    const absl::StatusOr<std::unique_ptr<RevocationList>> list =
        RevocationList::Open(path_);
    EXPECT_EQ(list.status().code(), absl::StatusCode::kFailedPrecondition)
        << bad;
    EXPECT_THAT(std::string(list.status().message()),
                HasSubstr(path_ + ":2: not a revocation record"))
        << bad;
  }
}

TEST_F(RevocationListTest, RefusesASecondOpenAndANonFile) {
  std::unique_ptr<RevocationList> list = OpenOrDie();
  ASSERT_NE(list, nullptr);
  const absl::StatusOr<std::unique_ptr<RevocationList>> second =
      RevocationList::Open(path_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("in use by another process"));
  list.reset();
  EXPECT_TRUE(RevocationList::Open(path_).ok());

  EXPECT_FALSE(RevocationList::Open(dir_.path()).ok());
  const absl::StatusOr<std::unique_ptr<RevocationList>> missing_dir =
      RevocationList::Open(dir_.File("no/such/dir.log"));
  EXPECT_EQ(missing_dir.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(missing_dir.status().message()),
              HasSubstr(dir_.File("no/such/dir.log")));
}

TEST_F(RevocationListTest, ReadersSeeEveryAcknowledgedRevocationWhileWriting) {
  std::unique_ptr<RevocationList> list = OpenOrDie();
  ASSERT_NE(list, nullptr);
  constexpr int kRevocations = 200;
  constexpr int kReaders = 4;
  // Ids revoked and acknowledged so far: the writer publishes the count
  // only after RevokeGrant returned.
  std::atomic<int> acknowledged{0};
  std::atomic<bool> done{false};
  std::atomic<int> misses{0};
  std::atomic<int64_t> checks{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      int seen = 0;
      while (!done.load(std::memory_order_acquire)) {
        const int count = acknowledged.load(std::memory_order_acquire);
        // Everything acknowledged is revoked, including what earlier
        // iterations saw; nothing never revoked is.
        for (int i : {count - 1, seen / 2, (count * 7 + r) % (count + 1) - 1}) {
          if (i >= 0 && i < count &&
              !list->IsRevoked("g" + std::to_string(i), "")) {
            misses.fetch_add(1);
          }
        }
        if (list->IsRevoked("never", "never")) misses.fetch_add(1);
        seen = count;
        checks.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (int i = 0; i < kRevocations; ++i) {
    ASSERT_TRUE(list->RevokeGrant("g" + std::to_string(i), kNow).ok());
    acknowledged.store(i + 1, std::memory_order_release);
  }
  done.store(true, std::memory_order_release);
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(misses.load(), 0);
  EXPECT_GT(checks.load(), 0);
  EXPECT_EQ(list->revoked_grants(), static_cast<size_t>(kRevocations));
}

}  // namespace
}  // namespace verdict::grants
