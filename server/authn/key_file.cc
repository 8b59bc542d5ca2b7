#include "server/authn/key_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace verdict::authn {

absl::StatusOr<FileStamp> StampFile(const std::string& path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot stat ", path, ": ", std::strerror(errno)));
  }
  FileStamp stamp;
  stamp.device = info.st_dev;
  stamp.inode = info.st_ino;
  stamp.size = info.st_size;
  stamp.mtime_ns =
      int64_t{info.st_mtim.tv_sec} * 1000000000 + info.st_mtim.tv_nsec;
  stamp.ctime_ns =
      int64_t{info.st_ctim.tv_sec} * 1000000000 + info.st_ctim.tv_nsec;
  return stamp;
}

absl::StatusOr<std::string> ReadKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string contents;
  char buffer[8192];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    contents.append(buffer, in.gcount());
    if (contents.size() > kMaxKeyFileBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " is larger than ", kMaxKeyFileBytes, " bytes"));
    }
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return contents;
}

absl::StatusOr<std::vector<std::unique_ptr<DirWatcher>>> WatchKeyFiles(
    const std::vector<std::string>& files, absl::Duration debounce,
    const std::function<void()>& on_change) {
  absl::flat_hash_set<std::string> directories;
  for (const std::string& file : files) {
    std::filesystem::path parent = std::filesystem::path(file).parent_path();
    directories.insert(parent.empty() ? "." : parent.string());
  }
  std::vector<std::unique_ptr<DirWatcher>> watchers;
  for (const std::string& directory : directories) {
    absl::StatusOr<std::unique_ptr<DirWatcher>> watcher =
        DirWatcher::Start(directory, debounce, on_change);
    if (!watcher.ok()) return watcher.status();
    watchers.push_back(*std::move(watcher));
  }
  return watchers;
}

}  // namespace verdict::authn
