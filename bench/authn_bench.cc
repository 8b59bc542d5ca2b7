// Credential verification cost per algorithm, uncached (every call verifies
// the signature) and cached (a repeated token: one SHA-256 and one lookup),
// plus X.509-SVIDs and the cost of refusing hostile tokens.
//
//   build/bench/authn_bench --benchmark_repetitions=3
//
// The machine's other load shows as wall time; compare CPU times.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "benchmark/benchmark.h"
#include "server/authn/base64url.h"
#include "server/authn/jwt_authenticator.h"
#include "server/authn/x509_svid_authenticator.h"
#include "tests/authn/test_keys.h"

namespace verdict::authn {
namespace {

namespace fs = std::filesystem;

constexpr char kIssuer[] = "https://idp.bench";
constexpr char kAudience[] = "https://mcp.bench/crm";
const absl::Time kNow = absl::FromUnixSeconds(1800000000);

constexpr JwsAlgorithm kAlgorithms[] = {
    JwsAlgorithm::kRS256, JwsAlgorithm::kRS384, JwsAlgorithm::kRS512,
    JwsAlgorithm::kPS256, JwsAlgorithm::kPS384, JwsAlgorithm::kPS512,
    JwsAlgorithm::kES256, JwsAlgorithm::kES384, JwsAlgorithm::kEdDSA};

struct Fixture {
  fs::path dir;
  absl::flat_hash_map<int, std::string> tokens;  // by JwsAlgorithm
  std::unique_ptr<JwtAuthenticator> uncached;
  std::unique_ptr<JwtAuthenticator> cached;
  std::string svid;
  std::unique_ptr<X509SvidAuthenticator> x509_uncached;
  std::unique_ptr<X509SvidAuthenticator> x509_cached;
};

void Require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "bench setup failed: %s\n", what);
    std::abort();
  }
}

const Fixture& GetFixture() {
  static Fixture* fixture = [] {
    auto* f = new Fixture;
    f->dir = fs::temp_directory_path() /
             ("authn_bench_" + std::to_string(::getpid()));
    fs::create_directories(f->dir);
    const testing::TestKey rsa =
        testing::GenerateKey(testing::KeyKind::kRsa2048, "rsa");
    const testing::TestKey p256 =
        testing::GenerateKey(testing::KeyKind::kEcP256, "p256");
    const testing::TestKey p384 =
        testing::GenerateKey(testing::KeyKind::kEcP384, "p384");
    const testing::TestKey ed =
        testing::GenerateKey(testing::KeyKind::kEd25519, "ed");
    const std::string jwks = (f->dir / "bench.jwks.json").string();
    testing::ReplaceFile(
        jwks,
        testing::Jwks({testing::PublicJwk(rsa), testing::PublicJwk(p256),
                       testing::PublicJwk(p384), testing::PublicJwk(ed)}));
    const nlohmann::json claims = {{"iss", kIssuer},
                                   {"sub", "alice@corp.bench"},
                                   {"aud", kAudience},
                                   {"iat", absl::ToUnixSeconds(kNow) - 60},
                                   {"exp", absl::ToUnixSeconds(kNow) + 600},
                                   {"groups", {"engineering", "oncall"}},
                                   {"scope", "crm.read crm.write"}};
    for (const JwsAlgorithm algorithm : kAlgorithms) {
      const testing::TestKey* key = &rsa;
      switch (testing::KeyKindFor(algorithm)) {
        case testing::KeyKind::kEcP256:
          key = &p256;
          break;
        case testing::KeyKind::kEcP384:
          key = &p384;
          break;
        case testing::KeyKind::kEd25519:
          key = &ed;
          break;
        default:
          break;
      }
      f->tokens[static_cast<int>(algorithm)] =
          testing::SignJwt(algorithm, *key, {}, claims);
    }
    JwtIssuerOptions issuer;
    issuer.issuer = kIssuer;
    issuer.jwks_file = jwks;
    issuer.audiences = {kAudience};
    issuer.algorithms = {"RS256", "RS384", "RS512", "PS256", "PS384",
                         "PS512", "ES256", "ES384", "EdDSA"};
    issuer.claims.roles = "groups";
    JwtAuthenticatorOptions options;
    options.issuers = {issuer};
    options.cache_capacity = 0;
    auto uncached = JwtAuthenticator::Create(options);
    Require(uncached.ok(), "uncached JWT authenticator");
    f->uncached = *std::move(uncached);
    options.cache_capacity = 10000;
    auto cached = JwtAuthenticator::Create(options);
    Require(cached.ok(), "cached JWT authenticator");
    f->cached = *std::move(cached);

    testing::CertOptions ca;
    ca.common_name = "bench root";
    ca.is_ca = true;
    ca.not_before = kNow - absl::Hours(24);
    ca.not_after = kNow + absl::Hours(24 * 365);
    const testing::TestCert root = testing::MakeCert(ca, nullptr);
    testing::CertOptions leaf;
    leaf.uris = {"spiffe://corp.bench/mcp/crm"};
    leaf.not_before = kNow - absl::Hours(1);
    leaf.not_after = kNow + absl::Hours(1);
    f->svid = testing::MakeCert(leaf, &root).Pem();
    const std::string bundle = (f->dir / "bundle.pem").string();
    testing::ReplaceFile(bundle, root.Pem());
    X509SvidAuthenticatorOptions x509_options;
    x509_options.trust_domains = {{"corp.bench", bundle}};
    x509_options.cache_capacity = 0;
    auto x509_uncached = X509SvidAuthenticator::Create(x509_options);
    Require(x509_uncached.ok(), "uncached X.509 authenticator");
    f->x509_uncached = *std::move(x509_uncached);
    x509_options.cache_capacity = 10000;
    auto x509_cached = X509SvidAuthenticator::Create(x509_options);
    Require(x509_cached.ok(), "cached X.509 authenticator");
    f->x509_cached = *std::move(x509_cached);
    return f;
  }();
  return *fixture;
}

void Run(benchmark::State& state, const Authenticator& authenticator,
         const std::string& credential) {
  Require(authenticator.Authenticate(credential, kNow).ok(), "credential");
  for (auto _ : state) {
    AuthOutcome outcome = authenticator.Authenticate(credential, kNow);
    benchmark::DoNotOptimize(outcome);
  }
}

void BM_JwtUncached(benchmark::State& state) {
  const auto algorithm = static_cast<JwsAlgorithm>(state.range(0));
  state.SetLabel(std::string(JwsAlgorithmName(algorithm)));
  const Fixture& f = GetFixture();
  Run(state, *f.uncached, f.tokens.at(static_cast<int>(algorithm)));
}

void BM_JwtCached(benchmark::State& state) {
  const auto algorithm = static_cast<JwsAlgorithm>(state.range(0));
  state.SetLabel(std::string(JwsAlgorithmName(algorithm)));
  const Fixture& f = GetFixture();
  Run(state, *f.cached, f.tokens.at(static_cast<int>(algorithm)));
}

void BM_X509Uncached(benchmark::State& state) {
  const Fixture& f = GetFixture();
  Run(state, *f.x509_uncached, f.svid);
}

void BM_X509Cached(benchmark::State& state) {
  const Fixture& f = GetFixture();
  Run(state, *f.x509_cached, f.svid);
}

// Hostile tokens must be refused without costing more than a good one.
void BM_JwtRefused(benchmark::State& state) {
  const Fixture& f = GetFixture();
  const std::string& good = f.tokens.at(static_cast<int>(JwsAlgorithm::kRS256));
  std::string token;
  switch (state.range(0)) {
    case 0:
      state.SetLabel("alg none");
      token = Base64UrlEncode(R"({"alg":"none"})") +
              good.substr(good.find('.'), good.rfind('.') - good.find('.')) +
              ".";
      break;
    case 1:
      state.SetLabel("bad signature");
      token = good.substr(0, good.size() - 4) + "AAAA";
      break;
    case 2:
      state.SetLabel("oversized");
      token.assign(1 << 20, 'A');
      break;
    case 3:
      state.SetLabel("deep header");
      token = Base64UrlEncode(std::string(5000, '[') + std::string(5000, ']')) +
              good.substr(good.find('.'));
      break;
  }
  for (auto _ : state) {
    AuthOutcome outcome = f.cached->Authenticate(token, kNow);
    Require(!outcome.ok(), "hostile token refused");
    benchmark::DoNotOptimize(outcome);
  }
}

void Algorithms(benchmark::internal::Benchmark* benchmark) {
  for (const JwsAlgorithm algorithm : kAlgorithms) {
    benchmark->Arg(static_cast<int>(algorithm));
  }
}

BENCHMARK(BM_JwtUncached)->Apply(Algorithms);
BENCHMARK(BM_JwtCached)->Apply(Algorithms);
BENCHMARK(BM_X509Uncached);
BENCHMARK(BM_X509Cached);
BENCHMARK(BM_JwtRefused)->DenseRange(0, 3);

}  // namespace
}  // namespace verdict::authn

BENCHMARK_MAIN();
