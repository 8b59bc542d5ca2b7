#include "server/policy/compiler.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "openssl/evp.h"
#include "server/common/quote.h"
#include "server/policy/condition.h"
#include "server/policy/loader.h"
#include "server/policy/policy_ast.h"
#include "server/policy/policy_files.h"
#include "server/policy/rule_index.h"

namespace verdict::policy {
namespace {

// The most (action, server, tool) pattern combinations one rule may list.
constexpr uint64_t kMaxTargetCombinations = 1 << 16;

// The first `bytes` bytes of SHA-256 over the parts `feed` adds, in hex, each
// part length-prefixed so that no two different inputs hash the same bytes.
std::string HexDigest(
    absl::FunctionRef<void(absl::FunctionRef<void(std::string_view)>)> feed,
    unsigned int bytes) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return "unknown";
  auto update = [ctx](std::string_view part) {
    uint64_t size = part.size();
    unsigned char length[8];
    for (int i = 0; i < 8; ++i)
      length[i] = static_cast<unsigned char>(size >> (8 * i));
    EVP_DigestUpdate(ctx, length, sizeof(length));
    EVP_DigestUpdate(ctx, part.data(), part.size());
  };
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  bool ok = EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1;
  if (ok) {
    feed(update);
    ok = EVP_DigestFinal_ex(ctx, digest, &digest_size) == 1;
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return "unknown";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < bytes && i < digest_size; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xF]);
  }
  return hex;
}

// First 16 hex digits of SHA-256 over every (path, contents).
std::string Revision(const std::vector<const SourceFile*>& files) {
  return HexDigest(
      [&files](absl::FunctionRef<void(std::string_view)> update) {
        for (const SourceFile* file : files) {
          update(file->path);
          update(file->contents);
        }
      },
      8);
}

// One file parsed into policy ASTs, with its schema errors.
struct LoadedFile {
  std::vector<Diagnostic> diagnostics;
  std::vector<AstPolicy> policies;
};

// What one file compiles to on its own; names across files are checked when
// the results are merged.
struct FileResult {
  std::vector<Diagnostic> diagnostics;
  std::vector<Rule> rules;
  std::vector<AstString> policy_names;  // one per policy document
};

// Compiles one loaded file: globs, conditions, rule ids within a policy.
// Everything the set keeps is copied, not moved, out of the AST: the AST may
// have been allocated on a helper thread's malloc arena, and long-lived data
// scattered over those arenas would pin much of their memory.
class FileCompiler {
 public:
  FileCompiler(const SourceFile& file, LoadedFile loaded)
      : file_(file), loaded_(std::move(loaded)) {}

  FileResult Compile() && {
    result_.diagnostics = std::move(loaded_.diagnostics);
    for (const AstPolicy& policy : loaded_.policies) CompilePolicy(policy);
    return std::move(result_);
  }

 private:
  void Error(AstPosition position, std::string_view code, std::string message) {
    Diagnostic& d = result_.diagnostics.emplace_back();
    d.file = file_.path;
    d.line = position.line;
    d.column = position.column;
    d.code = std::string(code);
    d.message = std::move(message);
  }

  std::vector<Glob> CompileGlobs(const AstList& list) {
    std::vector<Glob> globs;
    if (!list.has_value()) return globs;
    globs.reserve(list->size());
    for (const AstString& item : *list) {
      absl::StatusOr<Glob> glob = Glob::Compile(item.text);
      if (!glob.ok()) {
        Error(item.position, "empty_glob",
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

  std::optional<Program> CompileWhen(const AstCondition& when) {
    std::vector<ConditionError> errors;
    absl::StatusOr<Program> program = CompileCondition(when.text, &errors);
    if (program.ok()) return *std::move(program);
    if (errors.empty()) {
      Error(when.position, "condition",
            std::string(program.status().message()));
    }
    for (const ConditionError& error : errors) {
      Error(when.MapToFile(error.line, error.column), "condition",
            absl::StrCat(error.code, ": ", error.message));
    }
    return std::nullopt;
  }

  // A limit's key expressions, compiled like conditions; errors name
  // `limit.per` and point into the expression.
  std::optional<RuleLimit> CompileLimit(const AstLimit& ast,
                                        std::string_view policy,
                                        std::string_view rule) {
    RuleLimit limit;
    limit.calls = ast.calls;
    limit.window = ast.window;
    bool ok = true;
    std::vector<std::string> texts;
    for (const AstCondition& key : ast.per) {
      std::vector<ConditionError> errors;
      absl::StatusOr<Program> program = CompileLimitKey(key.text, &errors);
      if (!program.ok()) {
        ok = false;
        if (errors.empty()) {
          Error(key.position, "condition",
                absl::StrCat("limit.per: ", program.status().message()));
        }
        for (const ConditionError& error : errors) {
          Error(key.MapToFile(error.line, error.column), "condition",
                absl::StrCat("limit.per: ", error.code, ": ", error.message));
        }
        continue;
      }
      limit.per.push_back(*std::move(program));
      texts.push_back(key.text);
    }
    if (!ok) return std::nullopt;
    const std::string window = absl::FormatDuration(ast.window);
    limit.identity = HexDigest(
        [&](absl::FunctionRef<void(std::string_view)> update) {
          update(policy);
          update(rule);
          update(window);
        },
        16);
    limit.text = absl::StrCat(ast.calls, ast.calls == 1 ? " call" : " calls",
                              " per ", window);
    if (!texts.empty()) {
      absl::StrAppend(&limit.text, " per ", absl::StrJoin(texts, ", "));
    }
    limit.per_text = std::move(texts);
    return limit;
  }

  void CompilePolicy(const AstPolicy& policy) {
    result_.policy_names.push_back(policy.name);
    const std::vector<Glob> subjects = CompileGlobs(policy.subjects);
    const std::vector<std::string> roles = Names(policy.roles);
    absl::flat_hash_map<std::string, AstPosition> rule_ids;
    result_.rules.reserve(result_.rules.size() + policy.rules.size());
    for (const AstRule& ast : policy.rules) {
      if (!ast.id.text.empty()) {
        auto [first, inserted] =
            rule_ids.try_emplace(ast.id.text, ast.id.position);
        if (!inserted) {
          Error(ast.id.position, "duplicate_rule",
                absl::StrCat("rule ", QuoteToken(ast.id.text),
                             " is already defined in policy ",
                             QuoteToken(policy.name.text), " at line ",
                             first->second.line));
        }
      }
      Rule& rule = result_.rules.emplace_back();
      rule.policy = policy.name.text;
      rule.id = ast.id.text;
      rule.effect = ast.effect;
      rule.reason = ast.reason.text;
      rule.obligations = ast.obligations;
      rule.position.line = ast.position.line;
      rule.position.column = ast.position.column;
      rule.servers = CompileGlobs(ast.servers);
      rule.tools = CompileGlobs(ast.tools);
      rule.actions = CompileGlobs(ast.actions);
      rule.resources = CompileGlobs(ast.resources);
      rule.subjects = CompileGlobs(ast.subjects);
      rule.policy_subjects = subjects;
      rule.roles = Names(ast.roles);
      rule.policy_roles = roles;
      rule.scopes = Names(ast.scopes);
      rule.scope_challenge = absl::StrJoin(rule.scopes, " ");
      if (ast.when.has_value()) rule.condition = CompileWhen(*ast.when);
      if (ast.limit.has_value()) {
        rule.limit = CompileLimit(*ast.limit, policy.name.text, ast.id.text);
      }
      CheckTargetSize(rule, ast.position);
    }
  }

  // The index files a rule under every (action, server, tool) pattern
  // combination; a bound keeps one rule from costing unbounded memory.
  void CheckTargetSize(const Rule& rule, AstPosition position) {
    const uint64_t combinations =
        uint64_t{std::max<size_t>(1, rule.actions.size())} *
        std::max<size_t>(1, rule.servers.size()) *
        std::max<size_t>(1, rule.tools.size());
    if (combinations > kMaxTargetCombinations) {
      Error(position, "limit",
            absl::StrCat("rule lists ", combinations,
                         " action x server x tool combinations; the limit is ",
                         kMaxTargetCombinations, ": split the rule"));
    }
  }

  const SourceFile& file_;
  LoadedFile loaded_;
  FileResult result_;
};

// Parses every file, on up to kMaxLoadThreads threads when there is enough
// input to pay for them: YAML parsing dominates compile time.
std::vector<LoadedFile> LoadFiles(const std::vector<const SourceFile*>& files) {
  constexpr size_t kMaxLoadThreads = 4;
  constexpr size_t kBytesPerThread = 256 << 10;
  std::vector<LoadedFile> results(files.size());
  std::atomic<size_t> next{0};
  auto work = [&files, &results, &next] {
    for (size_t i = next++; i < files.size(); i = next++) {
      results[i].policies = LoadPolicyFile(files[i]->path, files[i]->contents,
                                           &results[i].diagnostics);
    }
  };
  size_t bytes = 0;
  for (const SourceFile* file : files) bytes += file->contents.size();
  const size_t threads = std::min<size_t>(
      {kMaxLoadThreads, std::max(1u, std::thread::hardware_concurrency()),
       files.size(), 1 + bytes / kBytesPerThread});
  std::vector<std::thread> helpers;
  for (size_t i = 1; i < threads; ++i) {
    try {
      helpers.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // no thread available: this thread does the rest
    }
  }
  work();
  for (std::thread& helper : helpers) helper.join();
  return results;
}

struct NamePosition {
  std::string_view file;
  AstPosition position;
};

// Compiles the loaded files in path order, checks policy names across the
// set and assembles the PolicySet. Returns null when any file had errors.
std::unique_ptr<const PolicySet> Merge(
    const std::vector<const SourceFile*>& files, std::vector<LoadedFile> loaded,
    std::vector<Diagnostic>* found) {
  PolicySetBuilder builder;
  absl::flat_hash_map<std::string, NamePosition> names;
  int policy_count = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    FileResult result = FileCompiler(*files[i], std::move(loaded[i])).Compile();
    const std::string& path = files[i]->path;
    for (const AstString& name : result.policy_names) {
      ++policy_count;
      if (name.text.empty()) continue;
      auto [first, inserted] =
          names.try_emplace(name.text, NamePosition{path, name.position});
      if (inserted) continue;
      Diagnostic& d = found->emplace_back();
      d.file = path;
      d.line = name.position.line;
      d.column = name.position.column;
      d.code = "duplicate_policy";
      d.message = absl::StrCat(
          "policy ", QuoteToken(name.text), " is already defined at ",
          std::string(first->second.file), ":", first->second.position.line,
          ":", first->second.position.column);
    }
    found->insert(found->end(),
                  std::make_move_iterator(result.diagnostics.begin()),
                  std::make_move_iterator(result.diagnostics.end()));
    if (!found->empty()) continue;
    const uint32_t file_id = builder.AddFile(path);
    for (Rule& rule : result.rules) builder.AddRule(std::move(rule), file_id);
  }
  if (!found->empty()) return nullptr;
  builder.set_policy_count(policy_count);
  builder.set_revision(Revision(files));
  return std::move(builder).Build();
}

void SortAndAnnotate(const std::vector<const SourceFile*>& files,
                     std::vector<Diagnostic>* found) {
  absl::flat_hash_map<std::string_view, std::string_view> contents;
  for (const SourceFile* file : files) contents[file->path] = file->contents;
  for (Diagnostic& d : *found) {
    auto it = contents.find(d.file);
    if (it != contents.end() && d.snippet.empty()) {
      d.snippet = TokenAt(it->second, d.line, d.column);
    }
  }
  yaml::SortDiagnostics(found);
}

absl::Status Failure(const std::vector<Diagnostic>& found) {
  return absl::InvalidArgumentError(
      absl::StrCat(found.size(), found.size() == 1 ? " error" : " errors",
                   " compiling policies; first: ", found.front().ToString()));
}

}  // namespace

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
  std::unique_ptr<const PolicySet> set =
      Merge(sorted, LoadFiles(sorted), &found);
#ifdef __GLIBC__
  // Parsing frees many small YAML nodes, some on helper threads' arenas;
  // hand that memory back so that a reload does not grow the server's RSS.
  malloc_trim(0);
#endif
  if (set == nullptr) {
    SortAndAnnotate(sorted, &found);
    absl::Status status = Failure(found);
    diagnostics->insert(diagnostics->end(),
                        std::make_move_iterator(found.begin()),
                        std::make_move_iterator(found.end()));
    return status;
  }
  return set;
}

absl::StatusOr<std::unique_ptr<const PolicySet>> CompileDirectory(
    const std::string& dir, std::vector<Diagnostic>* diagnostics) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    Diagnostic& d = diagnostics->emplace_back();
    d.file = dir;
    d.code = "io";
    d.message = "policy directory does not exist or is not a directory";
    return absl::NotFoundError(d.ToString());
  }
  std::vector<SourceFile> files;
  std::vector<Diagnostic> found;
  ReadPolicyFiles(dir, &files, &found);
  if (found.empty()) return CompileSources(files, diagnostics);
  // Still compile what could be read, to report every problem at once.
  (void)CompileSources(files, &found);
  yaml::SortDiagnostics(&found);
  absl::Status status = Failure(found);
  diagnostics->insert(diagnostics->end(), found.begin(), found.end());
  return status;
}

}  // namespace verdict::policy
