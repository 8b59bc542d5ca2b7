// Grant costs: signing, verifying uncached (every call checks the signature)
// and cached (a repeated token: one SHA-256 and one lookup) for ES256 and
// EdDSA; IsRevoked against 10,000 revocations, from one and from several
// threads; loading that file; a durable revocation; ScopeAllows on a full
// scope.
//
//   build/bench/grants_bench --benchmark_repetitions=3
//
// The machine's other load shows as wall time; compare CPU times.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "server/grants/grant_token.h"
#include "server/grants/revocations.h"
#include "tests/grants/grant_test_keys.h"

namespace verdict::grants {
namespace {

namespace fs = std::filesystem;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);
constexpr int kRevokedGrants = 9000;
constexpr int kRevokedTasks = 1000;

struct KeyFixture {
  std::unique_ptr<GrantSigner> cached;    // default cache
  std::unique_ptr<GrantSigner> uncached;  // same key, no cache
  std::string token;
};

struct Fixture {
  fs::path dir;
  KeyFixture es256;
  KeyFixture eddsa;
  std::string revocation_file;
  std::unique_ptr<RevocationList> revocations;
};

void Require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "bench setup failed: %s\n", what);
    std::abort();
  }
}

KeyFixture MakeKey(const fs::path& dir, authn::testing::KeyKind kind,
                   const char* name) {
  const std::string path = (dir / name).string();
  testing::WritePrivateKeyPem(authn::testing::GenerateKey(kind, ""), path);
  KeyFixture key;
  auto cached = GrantSigner::FromKeyFile(path);
  auto uncached = GrantSigner::FromKeyFile(path, /*cache_capacity=*/0);
  Require(cached.ok() && uncached.ok(), "grant signer");
  key.cached = *std::move(cached);
  key.uncached = *std::move(uncached);
  auto token = key.cached->Sign(testing::SampleClaims(kNow));
  Require(token.ok(), "grant token");
  key.token = *std::move(token);
  return key;
}

const Fixture& GetFixture() {
  static Fixture* fixture = [] {
    auto* f = new Fixture;
    f->dir = fs::temp_directory_path() /
             ("grants_bench_" + std::to_string(::getpid()));
    fs::create_directories(f->dir);
    f->es256 = MakeKey(f->dir, authn::testing::KeyKind::kEcP256, "es256.pem");
    f->eddsa = MakeKey(f->dir, authn::testing::KeyKind::kEd25519, "ed.pem");
    // Written directly: 10,000 fdatasyncs would measure the disk.
    std::string records;
    for (int i = 0; i < kRevokedGrants; ++i) {
      records += "{\"grant\":\"revoked-grant-" + std::to_string(i) +
                 "\",\"at\":1800000000}\n";
    }
    for (int i = 0; i < kRevokedTasks; ++i) {
      records += "{\"task\":\"revoked-task-" + std::to_string(i) +
                 "\",\"at\":1800000000}\n";
    }
    f->revocation_file = (f->dir / "revocations.log").string();
    testing::WriteFile(f->revocation_file, records);
    auto revocations = RevocationList::Open(f->revocation_file);
    Require(revocations.ok(), "revocation list");
    f->revocations = *std::move(revocations);
    return f;
  }();
  return *fixture;
}

const KeyFixture& KeyFor(benchmark::State& state) {
  const Fixture& f = GetFixture();
  const bool es256 = state.range(0) == 0;
  state.SetLabel(es256 ? "ES256" : "EdDSA");
  return es256 ? f.es256 : f.eddsa;
}

void BM_Sign(benchmark::State& state) {
  const KeyFixture& key = KeyFor(state);
  const GrantClaims claims = testing::SampleClaims(kNow);
  for (auto _ : state) {
    absl::StatusOr<std::string> token = key.cached->Sign(claims);
    benchmark::DoNotOptimize(token);
  }
}

void Verify(benchmark::State& state, const GrantSigner& signer,
            const std::string& token) {
  Require(signer.verifier().Verify(token, kNow).ok(), "token verifies");
  for (auto _ : state) {
    GrantOutcome outcome = signer.verifier().Verify(token, kNow);
    benchmark::DoNotOptimize(outcome);
  }
  // The cached path is mostly the SHA-256 of this many bytes.
  state.counters["token_bytes"] = static_cast<double>(token.size());
}

void BM_VerifyUncached(benchmark::State& state) {
  const KeyFixture& key = KeyFor(state);
  Verify(state, *key.uncached, key.token);
}

void BM_VerifyCached(benchmark::State& state) {
  const KeyFixture& key = KeyFor(state);
  Verify(state, *key.cached, key.token);
}

// 0: a live grant of a live task (both sets probed); 1: a revoked grant;
// 2: a live grant of a revoked task.
void BM_IsRevoked(benchmark::State& state) {
  const RevocationList& list = *GetFixture().revocations;
  std::string grant = "live-grant";
  std::string task = "live-task";
  switch (state.range(0)) {
    case 0:
      state.SetLabel("not revoked");
      break;
    case 1:
      state.SetLabel("grant revoked");
      grant = "revoked-grant-4321";
      break;
    case 2:
      state.SetLabel("task revoked");
      task = "revoked-task-321";
      break;
  }
  Require(list.IsRevoked(grant, task) == (state.range(0) != 0), "IsRevoked");
  for (auto _ : state) {
    bool revoked = list.IsRevoked(grant, task);
    benchmark::DoNotOptimize(revoked);
  }
}

void BM_OpenRevocations(benchmark::State& state) {
  const Fixture& f = GetFixture();
  // A copy: the fixture's list holds the lock on its own file.
  const std::string copy = (f.dir / "revocations-copy.log").string();
  fs::copy_file(f.revocation_file, copy, fs::copy_options::overwrite_existing);
  for (auto _ : state) {
    auto list = RevocationList::Open(copy);
    Require(list.ok() && (*list)->revoked_grants() == size_t{kRevokedGrants},
            "reopen");
    benchmark::DoNotOptimize(list);
  }
}

// Dominated by fdatasync: what a durable revocation costs on this disk.
void BM_RevokeGrant(benchmark::State& state) {
  RevocationList& list = *GetFixture().revocations;
  // Across repetitions too: revoking an id again writes nothing.
  static int next = 0;
  for (auto _ : state) {
    Require(list.RevokeGrant("bench-" + std::to_string(next++), kNow).ok(),
            "revoke");
  }
}

void BM_ScopeAllowsFullScope(benchmark::State& state) {
  std::vector<ScopeItem> scope;
  for (size_t i = 0; i < kMaxScopeItems; ++i) {
    scope.push_back(ScopeItem{"crm", "tool_" + std::to_string(i), "",
                              "dataset:crm/" + std::to_string(i)});
  }
  for (auto _ : state) {
    bool allowed =
        ScopeAllows(scope, "crm", "tool_63", "tools/call", "dataset", "crm/63");
    benchmark::DoNotOptimize(allowed);
  }
}

BENCHMARK(BM_Sign)->DenseRange(0, 1);
BENCHMARK(BM_VerifyUncached)->DenseRange(0, 1);
BENCHMARK(BM_VerifyCached)->DenseRange(0, 1);
BENCHMARK(BM_IsRevoked)->DenseRange(0, 2);
BENCHMARK(BM_IsRevoked)->Arg(0)->Threads(2);
BENCHMARK(BM_OpenRevocations)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RevokeGrant)->Iterations(200)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ScopeAllowsFullScope);

}  // namespace
}  // namespace verdict::grants

BENCHMARK_MAIN();
