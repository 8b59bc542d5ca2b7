#include "server/policy/compiler.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "openssl/evp.h"
#include "server/policy/condition.h"
#include "server/policy/loader.h"
#include "server/policy/policy_ast.h"
#include "server/policy/rule_index.h"

namespace verdict::policy {
namespace {

// Files larger than this are refused rather than read into memory.
constexpr uintmax_t kMaxPolicyFileBytes = 64 << 20;

// First 16 hex digits of SHA-256 over every (path, contents), each part
// length-prefixed so that no two different inputs hash the same bytes.
std::string Revision(const std::vector<const SourceFile*>& files) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return "unknown";
  auto update = [ctx](std::string_view bytes) {
    uint64_t size = bytes.size();
    unsigned char length[8];
    for (int i = 0; i < 8; ++i)
      length[i] = static_cast<unsigned char>(size >> (8 * i));
    EVP_DigestUpdate(ctx, length, sizeof(length));
    EVP_DigestUpdate(ctx, bytes.data(), bytes.size());
  };
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  bool ok = EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1;
  if (ok) {
    for (const SourceFile* file : files) {
      update(file->path);
      update(file->contents);
    }
    ok = EVP_DigestFinal_ex(ctx, digest, &digest_size) == 1;
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return "unknown";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < 8 && i < digest_size; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xF]);
  }
  return hex;
}

struct NamePosition {
  std::string_view file;
  AstPosition position;
};

class SetCompiler {
 public:
  explicit SetCompiler(std::vector<Diagnostic>* found) : found_(found) {}

  void AddFile(const SourceFile& file) {
    std::vector<AstPolicy> policies =
        LoadPolicyFile(file.path, file.contents, found_);
    const uint32_t file_id = builder_.AddFile(file.path);
    for (const AstPolicy& policy : policies) {
      CompilePolicy(file.path, file_id, policy);
    }
  }

  std::unique_ptr<const PolicySet> Build(std::string revision) && {
    builder_.set_revision(std::move(revision));
    builder_.set_policy_count(policy_count_);
    return std::move(builder_).Build();
  }

 private:
  void Error(std::string_view file, AstPosition position, std::string_view code,
             std::string message) {
    Diagnostic& d = found_->emplace_back();
    d.file = std::string(file);
    d.line = position.line;
    d.column = position.column;
    d.code = std::string(code);
    d.message = std::move(message);
  }

  std::vector<Glob> CompileGlobs(std::string_view file, const AstList& list) {
    std::vector<Glob> globs;
    if (!list.has_value()) return globs;
    globs.reserve(list->size());
    for (const AstString& item : *list) {
      absl::StatusOr<Glob> glob = Glob::Compile(item.text);
      if (!glob.ok()) {
        Error(file, item.position, "empty_glob",
              std::string(glob.status().message()));
        continue;
      }
      globs.push_back(*std::move(glob));
    }
    return globs;
  }

  static std::vector<std::string> Names(const AstList& list) {
    std::vector<std::string> names;
    if (!list.has_value()) return names;
    names.reserve(list->size());
    for (const AstString& item : *list) names.push_back(item.text);
    return names;
  }

  std::optional<Program> CompileWhen(std::string_view file,
                                     const AstCondition& when) {
    std::vector<ConditionError> errors;
    absl::StatusOr<Program> program = CompileCondition(when.text, &errors);
    if (program.ok()) return *std::move(program);
    if (errors.empty()) {
      Error(file, when.position, "condition",
            std::string(program.status().message()));
    }
    for (const ConditionError& error : errors) {
      Error(file, when.MapToFile(error.line, error.column), "condition",
            absl::StrCat(error.code, ": ", error.message));
    }
    return std::nullopt;
  }

  void CompilePolicy(std::string_view file, uint32_t file_id,
                     const AstPolicy& policy) {
    ++policy_count_;
    if (!policy.name.text.empty()) {
      auto [first, inserted] = policy_names_.try_emplace(
          policy.name.text, NamePosition{file, policy.name.position});
      if (!inserted) {
        Error(file, policy.name.position, "duplicate_policy",
              absl::StrCat("policy \"", policy.name.text,
                           "\" is already defined at ",
                           std::string(first->second.file), ":",
                           first->second.position.line, ":",
                           first->second.position.column));
      }
    }
    const std::vector<Glob> subjects = CompileGlobs(file, policy.subjects);
    const std::vector<std::string> roles = Names(policy.roles);
    absl::flat_hash_map<std::string_view, AstPosition> rule_ids;
    for (const AstRule& ast : policy.rules) {
      if (!ast.id.text.empty()) {
        auto [first, inserted] =
            rule_ids.try_emplace(ast.id.text, ast.id.position);
        if (!inserted) {
          Error(file, ast.id.position, "duplicate_rule",
                absl::StrCat("rule \"", ast.id.text,
                             "\" is already defined "
                             "in policy \"",
                             policy.name.text, "\" at line ",
                             first->second.line));
        }
      }
      Rule rule;
      rule.policy = policy.name.text;
      rule.id = ast.id.text;
      rule.effect = ast.effect;
      rule.reason = ast.reason.text;
      rule.obligations = ast.obligations;
      rule.position.line = ast.position.line;
      rule.position.column = ast.position.column;
      rule.servers = CompileGlobs(file, ast.servers);
      rule.tools = CompileGlobs(file, ast.tools);
      rule.actions = CompileGlobs(file, ast.actions);
      rule.resources = CompileGlobs(file, ast.resources);
      rule.subjects = CompileGlobs(file, ast.subjects);
      rule.policy_subjects = subjects;
      rule.roles = Names(ast.roles);
      rule.policy_roles = roles;
      if (ast.when.has_value()) rule.condition = CompileWhen(file, *ast.when);
      builder_.AddRule(std::move(rule), file_id);
    }
  }

  std::vector<Diagnostic>* found_;
  PolicySetBuilder builder_;
  absl::flat_hash_map<std::string, NamePosition> policy_names_;
  int policy_count_ = 0;
};

void SortAndAnnotate(const std::vector<const SourceFile*>& files,
                     std::vector<Diagnostic>* found) {
  absl::flat_hash_map<std::string_view, std::string_view> contents;
  for (const SourceFile* file : files) contents[file->path] = file->contents;
  for (Diagnostic& d : *found) {
    auto it = contents.find(d.file);
    if (it != contents.end() && d.snippet.empty()) {
      d.snippet = std::string(SourceLine(it->second, d.line));
    }
  }
  std::stable_sort(found->begin(), found->end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return std::tie(a.file, a.line, a.column) <
                            std::tie(b.file, b.line, b.column);
                   });
}

absl::Status Failure(const std::vector<Diagnostic>& found) {
  return absl::InvalidArgumentError(
      absl::StrCat(found.size(), found.size() == 1 ? " error" : " errors",
                   " compiling policies; first: ", found.front().ToString()));
}

bool IsPolicyFile(const std::string& name) {
  const bool yaml =
      absl::EndsWith(name, ".yaml") || absl::EndsWith(name, ".yml");
  const bool test =
      absl::EndsWith(name, "_test.yaml") || absl::EndsWith(name, "_test.yml");
  return yaml && !test;
}

Diagnostic IoError(std::string file, std::string message) {
  Diagnostic d;
  d.file = std::move(file);
  d.code = "io";
  d.message = std::move(message);
  return d;
}

}  // namespace

std::string Diagnostic::ToString() const {
  if (line <= 0) return absl::StrCat(file, ": error[", code, "]: ", message);
  return absl::StrCat(file, ":", line, ":", column, ": error[", code,
                      "]: ", message);
}

absl::StatusOr<std::unique_ptr<const PolicySet>> CompileSources(
    const std::vector<SourceFile>& files,
    std::vector<Diagnostic>* diagnostics) {
  std::vector<const SourceFile*> sorted;
  sorted.reserve(files.size());
  for (const SourceFile& file : files) sorted.push_back(&file);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const SourceFile* a, const SourceFile* b) {
                     return a->path < b->path;
                   });
  std::vector<Diagnostic> found;
  SetCompiler compiler(&found);
  for (const SourceFile* file : sorted) compiler.AddFile(*file);
  if (!found.empty()) {
    SortAndAnnotate(sorted, &found);
    absl::Status status = Failure(found);
    diagnostics->insert(diagnostics->end(),
                        std::make_move_iterator(found.begin()),
                        std::make_move_iterator(found.end()));
    return status;
  }
  return std::move(compiler).Build(Revision(sorted));
}

absl::StatusOr<std::unique_ptr<const PolicySet>> CompileDirectory(
    const std::string& dir, std::vector<Diagnostic>* diagnostics) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path root(dir);
  if (!fs::is_directory(root, ec)) {
    diagnostics->push_back(
        IoError(dir, "policy directory does not exist or is not a directory"));
    return absl::NotFoundError(diagnostics->back().ToString());
  }
  // Directory symlinks are not followed (no loops); hidden entries such as
  // .git or Kubernetes' ..data are skipped, so a ConfigMap's files count
  // once, through their visible links.
  std::vector<std::string> paths;
  fs::recursive_directory_iterator it(
      root, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (absl::StartsWith(name, ".")) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (!IsPolicyFile(name) || !it->is_regular_file(ec)) continue;
    paths.push_back(it->path().lexically_relative(root).generic_string());
  }
  if (ec) {
    diagnostics->push_back(
        IoError(dir, absl::StrCat("cannot list directory: ", ec.message())));
    return absl::InvalidArgumentError(diagnostics->back().ToString());
  }
  std::sort(paths.begin(), paths.end());

  std::vector<SourceFile> files;
  std::vector<Diagnostic> found;
  files.reserve(paths.size());
  for (std::string& path : paths) {
    const fs::path full = root / path;
    const uintmax_t size = fs::file_size(full, ec);
    if (ec || size > kMaxPolicyFileBytes) {
      found.push_back(
          IoError(path, ec ? absl::StrCat("cannot read: ", ec.message())
                           : absl::StrCat("file is larger than ",
                                          kMaxPolicyFileBytes, " bytes")));
      continue;
    }
    std::ifstream in(full, std::ios::binary);
    std::string contents((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
    if (in.bad() || !in.is_open()) {
      found.push_back(IoError(path, "cannot read file"));
      continue;
    }
    files.push_back({std::move(path), std::move(contents)});
  }
  if (!found.empty()) {
    absl::Status status = Failure(found);
    diagnostics->insert(diagnostics->end(), found.begin(), found.end());
    return status;
  }
  return CompileSources(files, diagnostics);
}

}  // namespace verdict::policy
