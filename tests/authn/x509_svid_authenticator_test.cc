// X509SvidAuthenticator: a test CA made at test time issues SVIDs; good ones
// verify (directly and through an intermediate); expired, not yet valid,
// foreign, untrusted, multi-URI, CA and malformed ones are refused with their
// reason codes; bundles reload and take the cache with them.

#include "server/authn/x509_svid_authenticator.h"

#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "server/model/reason.h"
#include "tests/authn/test_keys.h"

namespace verdict::authn {
namespace {

namespace fs = std::filesystem;
using model::ReasonCode;
using testing::CertOptions;
using testing::MakeCert;
using testing::TestCert;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);
constexpr char kAgentId[] = "spiffe://corp.test/mcp/crm";

CertOptions Ca(std::string name) {
  CertOptions options;
  options.common_name = std::move(name);
  options.is_ca = true;
  options.not_before = kNow - absl::Hours(24 * 30);
  options.not_after = kNow + absl::Hours(24 * 365);
  return options;
}

CertOptions Leaf(std::vector<std::string> uris) {
  CertOptions options;
  options.common_name = "svid";
  options.uris = std::move(uris);
  options.not_before = kNow - absl::Hours(1);
  options.not_after = kNow + absl::Hours(1);
  return options;
}

class X509SvidAuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("x509_svid_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    testing::ReplaceFile(BundlePath("corp"), root_.Pem());
    testing::ReplaceFile(BundlePath("partner"), partner_root_.Pem());
    X509SvidAuthenticatorOptions options;
    options.trust_domains = {{"corp.test", BundlePath("corp")},
                             {"partner.test", BundlePath("partner")}};
    auto created = X509SvidAuthenticator::Create(options);
    ASSERT_TRUE(created.ok()) << created.status();
    authenticator_ = *std::move(created);
  }
  void TearDown() override {
    authenticator_.reset();
    fs::remove_all(dir_);
  }

  std::string BundlePath(const std::string& name) const {
    return (dir_ / (name + "-bundle.pem")).string();
  }

  AuthOutcome Check(std::string_view pem, absl::Time now = kNow) const {
    return authenticator_->Authenticate(pem, now);
  }

  void ExpectRefused(std::string_view pem, ReasonCode code,
                     absl::Time now = kNow) const {
    const AuthOutcome outcome = Check(pem, now);
    EXPECT_FALSE(outcome.ok());
    EXPECT_EQ(model::ReasonCodeName(outcome.code), model::ReasonCodeName(code))
        << outcome.message;
    EXPECT_EQ(outcome.message.find("BEGIN CERTIFICATE"), std::string::npos);
  }

  TestCert root_ = MakeCert(Ca("corp root"), nullptr);
  TestCert partner_root_ = MakeCert(Ca("partner root"), nullptr);
  fs::path dir_;
  std::unique_ptr<X509SvidAuthenticator> authenticator_;
};

TEST_F(X509SvidAuthenticatorTest, GoodSvidVerifies) {
  const TestCert leaf = MakeCert(Leaf({kAgentId}), &root_);
  const AuthOutcome outcome = Check(leaf.Pem());
  ASSERT_TRUE(outcome.ok()) << outcome.message;
  EXPECT_EQ(outcome.identity->subject, kAgentId);
  EXPECT_EQ(outcome.identity->trust_domain, "corp.test");
  EXPECT_EQ(outcome.identity->issuer, "corp.test");
  EXPECT_EQ(outcome.identity->method, "x509");
  EXPECT_EQ(outcome.identity->expires_at, kNow + absl::Hours(1));
  EXPECT_EQ(outcome.identity->AsPrincipal().auth, "x509");
}

TEST_F(X509SvidAuthenticatorTest, ChainThroughAnIntermediateVerifies) {
  CertOptions intermediate_options = Ca("corp intermediate");
  intermediate_options.not_after = kNow + absl::Minutes(30);  // expires first
  const TestCert intermediate = MakeCert(intermediate_options, &root_);
  const TestCert leaf = MakeCert(Leaf({kAgentId}), &intermediate);
  const AuthOutcome outcome = Check(leaf.Pem() + intermediate.Pem());
  ASSERT_TRUE(outcome.ok()) << outcome.message;
  EXPECT_EQ(outcome.identity->expires_at, kNow + absl::Minutes(30));
  // Without the intermediate the chain is incomplete.
  ExpectRefused(leaf.Pem(), ReasonCode::kSignatureInvalid);
}

TEST_F(X509SvidAuthenticatorTest, ValidityWindowIsEnforced) {
  CertOptions expired = Leaf({kAgentId});
  expired.not_before = kNow - absl::Hours(2);
  expired.not_after = kNow - absl::Minutes(1);
  ExpectRefused(MakeCert(expired, &root_).Pem(), ReasonCode::kTokenExpired);
  CertOptions future = Leaf({kAgentId});
  future.not_before = kNow + absl::Minutes(5);
  ExpectRefused(MakeCert(future, &root_).Pem(), ReasonCode::kTokenNotYetValid);
  // A good SVID, checked after its expiry (also through the cache).
  const std::string good = MakeCert(Leaf({kAgentId}), &root_).Pem();
  ASSERT_TRUE(Check(good).ok());
  ExpectRefused(good, ReasonCode::kTokenExpired, kNow + absl::Hours(2));
}

TEST_F(X509SvidAuthenticatorTest, TrustDomainsAreKeptApart) {
  // A trust domain nobody configured.
  ExpectRefused(MakeCert(Leaf({"spiffe://other.test/mcp/crm"}), &root_).Pem(),
                ReasonCode::kIssuerUnknown);
  // corp's CA vouching for a partner identity: partner's bundle says no.
  ExpectRefused(MakeCert(Leaf({"spiffe://partner.test/mcp/crm"}), &root_).Pem(),
                ReasonCode::kSignatureInvalid);
  // An untrusted CA for a configured domain.
  const TestCert rogue = MakeCert(Ca("corp root"), nullptr);  // same name
  ExpectRefused(MakeCert(Leaf({kAgentId}), &rogue).Pem(),
                ReasonCode::kSignatureInvalid);
  // A self-signed leaf.
  ExpectRefused(MakeCert(Leaf({kAgentId}), nullptr).Pem(),
                ReasonCode::kSignatureInvalid);
}

TEST_F(X509SvidAuthenticatorTest, UriSansMustBeExactlyOneSpiffeId) {
  ExpectRefused(
      MakeCert(Leaf({kAgentId, "spiffe://corp.test/mcp/admin"}), &root_).Pem(),
      ReasonCode::kUnauthenticated);
  ExpectRefused(MakeCert(Leaf({}), &root_).Pem(), ReasonCode::kUnauthenticated);
  for (const char* bad :
       {"https://corp.test/mcp/crm", "spiffe://corp.test",
        "spiffe://corp.test/", "spiffe://Corp.test/mcp",
        "spiffe://corp.test:443/mcp", "spiffe://corp.test/mcp/../admin",
        "spiffe://corp.test/mcp?x=1"}) {
    SCOPED_TRACE(bad);
    ExpectRefused(MakeCert(Leaf({bad}), &root_).Pem(),
                  ReasonCode::kUnauthenticated);
  }
}

TEST_F(X509SvidAuthenticatorTest, LeafMustNotBeACa) {
  CertOptions ca_leaf = Leaf({kAgentId});
  ca_leaf.is_ca = true;
  ExpectRefused(MakeCert(ca_leaf, &root_).Pem(), ReasonCode::kUnauthenticated);
}

TEST_F(X509SvidAuthenticatorTest, MalformedInputIsRefused) {
  ExpectRefused("", ReasonCode::kUnauthenticated);
  ExpectRefused("not a certificate", ReasonCode::kUnauthenticated);
  ExpectRefused(
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
      ReasonCode::kUnauthenticated);
  const std::string leaf = MakeCert(Leaf({kAgentId}), &root_).Pem();
  ExpectRefused(leaf.substr(0, leaf.size() / 2), ReasonCode::kUnauthenticated);
  std::string long_chain;
  for (int i = 0; i < 9; ++i) long_chain += leaf;
  ExpectRefused(long_chain, ReasonCode::kUnauthenticated);
  ExpectRefused(std::string(100 * 1024, 'A'), ReasonCode::kUnauthenticated);
}

TEST_F(X509SvidAuthenticatorTest, BundleRotationTakesEffectOnReload) {
  const std::string old_svid = MakeCert(Leaf({kAgentId}), &root_).Pem();
  ASSERT_TRUE(Check(old_svid).ok());
  const TestCert new_root = MakeCert(Ca("corp root 2"), nullptr);
  const std::string new_svid = MakeCert(Leaf({kAgentId}), &new_root).Pem();
  ExpectRefused(new_svid, ReasonCode::kSignatureInvalid);

  testing::ReplaceFile(BundlePath("corp"), new_root.Pem());
  ASSERT_TRUE(authenticator_->ReloadChangedBundles().ok());
  EXPECT_TRUE(Check(new_svid).ok());
  ExpectRefused(old_svid, ReasonCode::kSignatureInvalid);  // cache cleared

  testing::ReplaceFile(BundlePath("corp"), "garbage");
  EXPECT_FALSE(authenticator_->ReloadChangedBundles().ok());
  EXPECT_TRUE(Check(new_svid).ok());
}

TEST(X509SvidAuthenticatorOptionsTest, InvalidConfigurationsAreRefused) {
  X509SvidAuthenticatorOptions options;
  options.trust_domains = {{"Corp.Test", "/nonexistent"}};
  EXPECT_FALSE(X509SvidAuthenticator::Create(options).ok());
  options.trust_domains = {{"corp.test", "/nonexistent/bundle.pem"}};
  EXPECT_FALSE(X509SvidAuthenticator::Create(options).ok());
}

}  // namespace
}  // namespace verdict::authn
