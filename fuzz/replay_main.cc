// The main() of a fuzz target built without libFuzzer: runs every input file
// named on the command line (directories are walked recursively, in sorted
// order) through LLVMFuzzerTestOneInput once, as libFuzzer does when it is
// given files instead of a corpus to grow. This is how the seed corpora run
// as ordinary tests on every build with any compiler.
//
// Exits 0 when every input ran, 1 when an argument cannot be read or names no
// input at all (a mistyped corpus path must not pass as an empty corpus). A
// bug an input triggers shows as the crash or sanitizer report it causes,
// after the name of the input, exactly as under libFuzzer.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// Appends the regular files at `path` (itself, or under it) to `*files`.
bool CollectInputs(const std::filesystem::path& path,
                   std::vector<std::string>* files) {
  std::error_code error;
  if (std::filesystem::is_regular_file(path, error)) {
    files->push_back(path.string());
    return true;
  }
  if (!std::filesystem::is_directory(path, error)) return false;
  std::vector<std::string> found;
  for (std::filesystem::recursive_directory_iterator it(path, error), end;
       !error && it != end; it.increment(error)) {
    if (it->is_regular_file(error)) found.push_back(it->path().string());
  }
  if (error) return false;
  std::sort(found.begin(), found.end());
  files->insert(files->end(), found.begin(), found.end());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    if (!CollectInputs(argv[i], &files)) {
      std::fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[i]);
      return 1;
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "%s: no inputs\n", argv[0]);
    return 1;
  }
  for (const std::string& file : files) {
    std::fprintf(stderr, "Running: %s\n", file.c_str());
    std::ifstream in(file, std::ios::binary);
    if (!in.is_open()) {
      std::fprintf(stderr, "%s: cannot read %s\n", argv[0], file.c_str());
      return 1;
    }
    const std::string input((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()),
                           input.size());
  }
  std::printf("%s: ran %zu inputs\n", argv[0], files.size());
  return 0;
}
