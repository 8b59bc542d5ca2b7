// ScratchDir: a private temporary directory (under $TMPDIR, else /tmp) for
// the files an authenticator loads at creation (JWKS, trust bundles). It is
// removed with its contents when the ScratchDir is destroyed, which is safe
// as soon as the authenticator is created: keys are read once, not watched.
//
// A fuzzer that cannot set up its fixture is broken rather than finding
// anything, so every failure here aborts. Not thread-safe; fuzzers build
// their fixture once.

#ifndef VERDICT_FUZZ_SCRATCH_DIR_H_
#define VERDICT_FUZZ_SCRATCH_DIR_H_

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

namespace verdict::fuzz {

class ScratchDir {
 public:
  ScratchDir() {
    const char* tmpdir = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") +
        "/verdict-fuzz-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) Die("mkdtemp", pattern);
    path_ = pattern;
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  // Writes `contents` to the file `name` in the directory; returns its path.
  std::string Write(std::string_view name, std::string_view contents) const {
    const std::string file = (path_ / name).string();
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.close();
    if (!out) Die("write", file);
    return file;
  }

 private:
  [[noreturn]] static void Die(const char* what, const std::string& path) {
    std::fprintf(stderr, "fuzz fixture: %s %s failed\n", what, path.c_str());
    std::abort();
  }

  std::filesystem::path path_;
};

}  // namespace verdict::fuzz

#endif  // VERDICT_FUZZ_SCRATCH_DIR_H_
