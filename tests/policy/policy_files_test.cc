// The policy directory walk fails closed: every entry that could hold
// policies but cannot be read (a dangling symlink, a symlink loop, a link out
// of the directory, a FIFO) is an io error naming it, a link out of the
// directory is never read, and links inside it (Kubernetes' ConfigMap
// layout) are followed.

#include "server/policy/policy_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace verdict::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

namespace fs = std::filesystem;

constexpr char kPolicy[] = "policy: p\nrules:\n  - id: r\n    effect: deny\n";

class PolicyFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() /
            ("policy_files_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(base_);
    dir_ = base_ / "policies";
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(base_); }

  static void Write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }

  // Reads the directory; returns "file: message" of every error.
  std::vector<std::string> Errors(std::vector<SourceFile>* files = nullptr) {
    std::vector<SourceFile> read;
    std::vector<Diagnostic> errors;
    const bool ok = ReadPolicyFiles(dir_.string(), &read, &errors);
    EXPECT_EQ(ok, errors.empty());
    std::vector<std::string> out;
    for (const Diagnostic& d : errors) {
      EXPECT_EQ(d.code, "io");
      out.push_back(d.file + ": " + d.message);
    }
    if (files != nullptr) *files = std::move(read);
    return out;
  }

  fs::path base_;
  fs::path dir_;
};

TEST_F(PolicyFilesTest, ReadsPolicyFilesSortedAndSkipsTestsAndHiddenEntries) {
  Write(dir_ / "b.yaml", kPolicy);
  Write(dir_ / "a" / "c.yml", kPolicy);
  Write(dir_ / "a_test.yaml", "suite: s\n");
  Write(dir_ / "notes.txt", "not read");
  Write(dir_ / ".b.yaml.tmp", "half");
  Write(dir_ / ".git" / "x.yaml", "not read");
  std::vector<SourceFile> files;
  EXPECT_THAT(Errors(&files), IsEmpty());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].path, "a/c.yml");
  EXPECT_EQ(files[1].path, "b.yaml");
  EXPECT_EQ(files[1].contents, kPolicy);
}

TEST_F(PolicyFilesTest, DanglingSymlinkIsAnError) {
  Write(dir_ / "a.yaml", kPolicy);
  fs::create_symlink("gone.yaml", dir_ / "team.yaml");
  EXPECT_THAT(Errors(), ElementsAre(HasSubstr("team.yaml: symlink cannot be "
                                              "resolved")));
}

TEST_F(PolicyFilesTest, DanglingDirectorySymlinkIsAnErrorWhateverItsName) {
  fs::create_directory_symlink(base_ / "gone", dir_ / "team");
  EXPECT_THAT(Errors(), ElementsAre(HasSubstr("team: symlink cannot be")));
}

TEST_F(PolicyFilesTest, SymlinkLoopsAreErrors) {
  fs::create_symlink("b.yaml", dir_ / "a.yaml");
  fs::create_symlink("a.yaml", dir_ / "b.yaml");
  Write(dir_ / "sub" / "p.yaml", kPolicy);
  fs::create_directory_symlink("..", dir_ / "sub" / "loop");
  const std::vector<std::string> errors = Errors();
  EXPECT_THAT(errors,
              ElementsAre(HasSubstr("a.yaml: symlink cannot be resolved"),
                          HasSubstr("b.yaml: symlink cannot be resolved"),
                          HasSubstr("sub/loop: directory reached twice")));
}

TEST_F(PolicyFilesTest, SymlinkOutOfTheDirectoryIsNeverRead) {
  const std::string secret = "aws_secret_access_key: AKIA-SECRET-0123\n";
  Write(base_ / "secret", secret);
  Write(base_ / "elsewhere" / "p.yaml", kPolicy);
  fs::create_symlink(base_ / "secret", dir_ / "creds.yaml");
  fs::create_directory_symlink(base_ / "elsewhere", dir_ / "team");
  fs::create_symlink(base_ / "secret", dir_ / "README");  // never read anyway
  std::vector<SourceFile> files;
  std::vector<Diagnostic> errors;
  EXPECT_FALSE(ReadPolicyFiles(dir_.string(), &files, &errors));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].file, "creds.yaml");
  EXPECT_EQ(errors[1].file, "team");
  for (const Diagnostic& d : errors) {
    EXPECT_THAT(d.message, HasSubstr("outside the policy directory"));
    EXPECT_THAT(d.ToString() + d.snippet, Not(HasSubstr("AKIA")));
    EXPECT_THAT(d.ToString(), Not(HasSubstr(base_.string() + "/secret")));
  }
  EXPECT_THAT(files, IsEmpty());
}

TEST_F(PolicyFilesTest, SymlinksInsideTheDirectoryAreFollowed) {
  // Kubernetes mounts a ConfigMap as ..data -> ..2026_01_01/, with each
  // visible file a link through ..data.
  Write(dir_ / "..2026_01_01" / "crm.yaml", kPolicy);
  fs::create_directory_symlink("..2026_01_01", dir_ / "..data");
  fs::create_symlink("..data/crm.yaml", dir_ / "crm.yaml");
  Write(dir_ / ".releases" / "v2" / "kb.yaml", kPolicy);
  fs::create_directory_symlink(".releases/v2", dir_ / "current");
  std::vector<SourceFile> files;
  EXPECT_THAT(Errors(&files), IsEmpty());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].path, "crm.yaml");
  EXPECT_EQ(files[1].path, "current/kb.yaml");
}

TEST_F(PolicyFilesTest, TheSameDirectoryTwiceIsAnError) {
  Write(dir_ / "team" / "p.yaml", kPolicy);
  fs::create_directory_symlink("team", dir_ / "alias");
  EXPECT_THAT(Errors(),
              ElementsAre(HasSubstr("alias: directory reached twice")));
}

TEST_F(PolicyFilesTest, SpecialFileWithAPolicyNameIsAnErrorAndNotOpened) {
  ASSERT_EQ(mkfifo((dir_ / "pipe.yaml").c_str(), 0644), 0);
  ASSERT_EQ(mkfifo((dir_ / "pipe").c_str(), 0644), 0);  // not a policy name
  fs::create_symlink("pipe", dir_ / "link.yaml");
  EXPECT_THAT(Errors(),
              ElementsAre(HasSubstr("link.yaml: symlink target is not a "
                                    "regular file"),
                          HasSubstr("pipe.yaml: not a regular file")));
}

TEST_F(PolicyFilesTest, SymlinkedRootIsResolved) {
  Write(dir_ / "a.yaml", kPolicy);
  fs::create_directory_symlink(dir_, base_ / "link");
  std::vector<SourceFile> files;
  std::vector<Diagnostic> errors;
  EXPECT_TRUE(ReadPolicyFiles((base_ / "link").string(), &files, &errors));
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].path, "a.yaml");
}

TEST_F(PolicyFilesTest, UnreadableDirectoryIsAnError) {
  if (geteuid() == 0) {
    GTEST_SKIP() << "root reads any directory; policy_watch_test checks "
                    "this against verdictd running as nobody";
  }
  Write(dir_ / "sub" / "p.yaml", kPolicy);
  fs::permissions(dir_ / "sub", fs::perms::none);
  EXPECT_THAT(Errors(), ElementsAre(HasSubstr("sub: cannot list directory")));
  fs::permissions(dir_ / "sub", fs::perms::owner_all);
}

}  // namespace
}  // namespace verdict::policy
