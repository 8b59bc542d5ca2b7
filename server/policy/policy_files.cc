#include "server/policy/policy_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace verdict::policy {
namespace {

namespace fs = std::filesystem;

void IoError(std::string file, std::string message,
             std::vector<Diagnostic>* errors) {
  Diagnostic& d = errors->emplace_back();
  d.file = std::move(file);
  d.code = "io";
  d.message = std::move(message);
}

// `real` is `root` or under it; both are canonical paths.
bool Inside(const std::string& real, const std::string& root) {
  if (real == root) return true;
  if (!absl::StartsWith(real, root)) return false;
  return root.back() == '/' || real[root.size()] == '/';
}

// The real root of `dir`, or "" after appending why there is none.
std::string RealRoot(const std::string& dir, std::vector<Diagnostic>* errors) {
  std::error_code ec;
  const fs::path real = fs::canonical(dir, ec);
  if (ec) {
    IoError(dir, absl::StrCat("cannot resolve the directory: ", ec.message()),
            errors);
    return "";
  }
  if (!fs::is_directory(real, ec)) {
    IoError(dir, "not a directory", errors);
    return "";
  }
  return real.string();
}

struct DirToList {
  fs::path real;
  std::string relative;  // "" for the root
};

class TreeWalk {
 public:
  TreeWalk(const std::string& dir, std::string real_root,
           std::function<bool(std::string_view)> wanted,
           std::vector<Diagnostic>* errors)
      : dir_(dir),
        real_root_(std::move(real_root)),
        wanted_(std::move(wanted)),
        errors_(errors) {}

  std::vector<TreeFile> Run() && {
    pending_.push_back({fs::path(real_root_), ""});
    while (!pending_.empty()) {
      DirToList next = std::move(pending_.back());
      pending_.pop_back();
      List(next);
    }
    std::sort(
        files_.begin(), files_.end(),
        [](const TreeFile& a, const TreeFile& b) { return a.path < b.path; });
    return std::move(files_);
  }

 private:
  void Error(const std::string& relative, std::string message) {
    IoError(relative.empty() ? dir_ : relative, std::move(message), errors_);
  }

  void List(const DirToList& dir) {
    struct stat st;
    if (stat(dir.real.c_str(), &st) != 0) {
      Error(dir.relative,
            absl::StrCat("cannot stat directory: ", std::strerror(errno)));
      return;
    }
    if (!visited_.insert({st.st_dev, st.st_ino}).second) {
      Error(dir.relative,
            "directory reached twice through a symlink (a loop); not listed "
            "again");
      return;
    }
    std::error_code ec;
    std::vector<std::string> names;
    fs::directory_iterator it(dir.real, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
      names.push_back(it->path().filename().string());
    }
    if (ec) {
      Error(dir.relative,
            absl::StrCat("cannot list directory: ", ec.message()));
      return;
    }
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      if (absl::StartsWith(name, ".")) continue;
      Entry(dir.real / name,
            dir.relative.empty() ? name : absl::StrCat(dir.relative, "/", name),
            name);
    }
  }

  void Entry(const fs::path& path, const std::string& relative,
             const std::string& name) {
    std::error_code ec;
    const fs::file_status own = fs::symlink_status(path, ec);
    if (ec) {
      Error(relative, absl::StrCat("cannot stat: ", ec.message()));
      return;
    }
    if (fs::is_symlink(own)) {
      Symlink(path, relative, name);
      return;
    }
    if (fs::is_directory(own)) {
      pending_.push_back({path, relative});
    } else if (fs::is_regular_file(own)) {
      if (wanted_(name)) files_.push_back({relative, path.string()});
    } else if (wanted_(name)) {
      Error(relative, "not a regular file (a FIFO, socket or device)");
    }
  }

  // A link may stand for a directory of policies, so one that cannot be
  // resolved is an error whatever its name; one leading outside the root is
  // an error unless it is a plain file with a name that is not read anyway.
  void Symlink(const fs::path& path, const std::string& relative,
               const std::string& name) {
    std::error_code ec;
    const fs::path target = fs::canonical(path, ec);
    if (ec) {
      Error(relative,
            absl::StrCat("symlink cannot be resolved: ", ec.message()));
      return;
    }
    const fs::file_status status = fs::status(target, ec);
    if (ec) {
      Error(relative,
            absl::StrCat("cannot stat symlink target: ", ec.message()));
      return;
    }
    const bool directory = fs::is_directory(status);
    if (!Inside(target.string(), real_root_)) {
      if (directory || wanted_(name)) {
        Error(relative,
              "symlink leads outside the policy directory; it is not "
              "followed");
      }
      return;
    }
    if (directory) {
      pending_.push_back({target, relative});
    } else if (!wanted_(name)) {
      return;
    } else if (fs::is_regular_file(status)) {
      files_.push_back({relative, target.string()});
    } else {
      Error(relative,
            "symlink target is not a regular file (a FIFO, socket or device)");
    }
  }

  const std::string& dir_;
  const std::string real_root_;
  const std::function<bool(std::string_view)> wanted_;
  std::vector<Diagnostic>* const errors_;
  std::vector<DirToList> pending_;
  absl::flat_hash_set<std::pair<dev_t, ino_t>> visited_;
  std::vector<TreeFile> files_;
};

bool ReadInside(const std::string& real_root, const TreeFile& file,
                std::string* contents, std::vector<Diagnostic>* errors) {
  const int fd = open(file.resolved.c_str(),
                      O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    IoError(file.path, absl::StrCat("cannot open: ", std::strerror(errno)),
            errors);
    return false;
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) {
    IoError(file.path, absl::StrCat("cannot stat: ", std::strerror(errno)),
            errors);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    IoError(file.path, "not a regular file", errors);
    return false;
  }
  // What was opened must still be reachable at a real path inside the root:
  // a directory swapped for a symlink since the walk is refused here, before
  // anything is read.
  std::error_code ec;
  const fs::path real = fs::canonical(file.resolved, ec);
  struct stat again;
  if (ec || !Inside(real.string(), real_root) ||
      stat(real.c_str(), &again) != 0 || again.st_dev != st.st_dev ||
      again.st_ino != st.st_ino) {
    IoError(file.path, "file moved outside the policy directory while loading",
            errors);
    return false;
  }
  if (static_cast<uintmax_t>(st.st_size) > kMaxPolicyFileBytes) {
    IoError(file.path,
            absl::StrCat("file is larger than ", kMaxPolicyFileBytes, " bytes"),
            errors);
    return false;
  }
  contents->clear();
  contents->reserve(static_cast<size_t>(st.st_size));
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      IoError(file.path, absl::StrCat("cannot read: ", std::strerror(errno)),
              errors);
      return false;
    }
    if (n == 0) break;
    if (contents->size() + static_cast<size_t>(n) > kMaxPolicyFileBytes) {
      IoError(
          file.path,
          absl::StrCat("file is larger than ", kMaxPolicyFileBytes, " bytes"),
          errors);
      return false;
    }
    contents->append(buffer, static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

bool IsPolicyFileName(std::string_view name) {
  const absl::string_view n(name.data(), name.size());
  const bool yaml = absl::EndsWith(n, ".yaml") || absl::EndsWith(n, ".yml");
  const bool test =
      absl::EndsWith(n, "_test.yaml") || absl::EndsWith(n, "_test.yml");
  return yaml && !test;
}

std::vector<TreeFile> ListTreeFiles(
    const std::string& dir, const std::function<bool(std::string_view)>& wanted,
    std::vector<Diagnostic>* errors) {
  std::string real_root = RealRoot(dir, errors);
  if (real_root.empty()) return {};
  return TreeWalk(dir, std::move(real_root), wanted, errors).Run();
}

bool ReadTreeFile(const std::string& dir, const TreeFile& file,
                  std::string* contents, std::vector<Diagnostic>* errors) {
  const std::string real_root = RealRoot(dir, errors);
  return !real_root.empty() && ReadInside(real_root, file, contents, errors);
}

bool ReadPolicyFiles(const std::string& dir, std::vector<SourceFile>* files,
                     std::vector<Diagnostic>* errors) {
  const size_t errors_before = errors->size();
  std::string real_root = RealRoot(dir, errors);
  if (real_root.empty()) return false;
  std::vector<TreeFile> listed =
      TreeWalk(dir, real_root, IsPolicyFileName, errors).Run();
  files->reserve(files->size() + listed.size());
  for (TreeFile& file : listed) {
    std::string contents;
    if (!ReadInside(real_root, file, &contents, errors)) continue;
    files->push_back({std::move(file.path), std::move(contents)});
  }
  return errors->size() == errors_before;
}

}  // namespace verdict::policy
