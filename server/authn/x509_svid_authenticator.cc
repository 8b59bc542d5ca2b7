#include "server/authn/x509_svid_authenticator.h"

#include <openssl/pem.h>

#include <ctime>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/common/log.h"

namespace verdict::authn {
namespace {

using model::ReasonCode;

AuthOutcome Fail(ReasonCode code, std::string message) {
  return AuthOutcome::Failure(code, std::move(message));
}

// Frees the stack only: the certificates stay owned by their X509Ptrs.
struct X509StackDeleter {
  void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
};
using X509Stack = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;

// Every certificate in `pem`, in order, at most `limit` + 1 of them (so the
// caller can tell "too many"). Text around the PEM blocks is ignored, as
// PEM_read_bio_X509 does; a block that does not parse is an error.
std::optional<std::vector<X509Ptr>> ParsePemCertificates(std::string_view pem,
                                                         int limit) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return std::nullopt;
  std::vector<X509Ptr> certificates;
  while (static_cast<int>(certificates.size()) <= limit) {
    X509Ptr certificate(
        PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (certificate == nullptr) {
      const unsigned long error = ERR_peek_last_error();  // NOLINT
      ERR_clear_error();
      // Running out of input is the normal end; anything else is malformed.
      if (ERR_GET_REASON(error) == PEM_R_NO_START_LINE) break;
      return std::nullopt;
    }
    certificates.push_back(std::move(certificate));
  }
  return certificates;
}

absl::StatusOr<std::shared_ptr<X509_STORE>> LoadBundle(
    const std::string& file) {
  absl::StatusOr<std::string> pem = ReadKeyFile(file);
  if (!pem.ok()) return pem.status();
  constexpr int kMaxBundleCertificates = 1000;
  std::optional<std::vector<X509Ptr>> roots =
      ParsePemCertificates(*pem, kMaxBundleCertificates);
  if (!roots.has_value() || roots->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": no PEM certificates, or a malformed one"));
  }
  std::shared_ptr<X509_STORE> store(X509_STORE_new(), X509_STORE_free);
  if (store == nullptr) return absl::InternalError("out of memory");
  for (const X509Ptr& root : *roots) {
    if (X509_STORE_add_cert(store.get(), root.get()) != 1) {
      const std::string error = TakeOpenSslError();
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": cannot add a certificate: ", error));
    }
  }
  return store;
}

std::optional<absl::Time> NotAfter(const X509* certificate) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(certificate), &tm) != 1) {
    return std::nullopt;
  }
  return absl::FromTimeT(timegm(&tm));
}

}  // namespace

struct X509SvidAuthenticator::TrustDomain {
  X509TrustDomainOptions options;
  mutable absl::Mutex mu;
  std::shared_ptr<X509_STORE> store ABSL_GUARDED_BY(mu);
  FileStamp stamp;  // guarded by the authenticator's reload_mu_

  std::shared_ptr<X509_STORE> Store() const {
    absl::MutexLock lock(&mu);
    return store;
  }
};

X509SvidAuthenticator::X509SvidAuthenticator(
    X509SvidAuthenticatorOptions options)
    : options_(std::move(options)), cache_(options_.cache_capacity) {}

X509SvidAuthenticator::~X509SvidAuthenticator() = default;

absl::StatusOr<std::unique_ptr<X509SvidAuthenticator>>
X509SvidAuthenticator::Create(X509SvidAuthenticatorOptions options) {
  std::unique_ptr<X509SvidAuthenticator> authenticator(
      new X509SvidAuthenticator(std::move(options)));
  for (const X509TrustDomainOptions& domain_options :
       authenticator->options_.trust_domains) {
    const std::string& name = domain_options.trust_domain;
    // A trust domain is valid exactly when it makes a valid SPIFFE ID.
    if (SpiffeTrustDomain(absl::StrCat("spiffe://", name, "/x")) != name) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid SPIFFE trust domain \"", name, "\""));
    }
    auto domain = std::make_unique<TrustDomain>();
    domain->options = domain_options;
    absl::StatusOr<FileStamp> stamp = StampFile(domain_options.bundle_file);
    if (!stamp.ok()) return stamp.status();
    absl::StatusOr<std::shared_ptr<X509_STORE>> store =
        LoadBundle(domain_options.bundle_file);
    if (!store.ok()) return store.status();
    domain->stamp = *stamp;
    domain->store = *std::move(store);
    if (!authenticator->domains_.emplace(name, std::move(domain)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("trust domain \"", name, "\" configured twice"));
    }
  }
  return authenticator;
}

AuthOutcome X509SvidAuthenticator::Authenticate(std::string_view pem_chain,
                                                absl::Time now) const {
  if (pem_chain.empty()) {
    return Fail(ReasonCode::kUnauthenticated, "empty X.509-SVID");
  }
  if (pem_chain.size() > options_.max_chain_bytes) {
    return Fail(ReasonCode::kUnauthenticated,
                absl::StrCat("X.509-SVID chain larger than ",
                             options_.max_chain_bytes, " bytes"));
  }
  if (options_.cache_capacity == 0) return Verify(pem_chain, now);
  const Sha256Digest digest = sha256_.Of(pem_chain);
  if (std::shared_ptr<const Identity> cached = cache_.Find(digest, now)) {
    return AuthOutcome::Success(std::move(cached));
  }
  const uint64_t generation = cache_.generation();
  AuthOutcome outcome = Verify(pem_chain, now);
  if (outcome.ok()) {
    cache_.Insert(digest, outcome.identity, outcome.identity->expires_at, now,
                  generation);
  }
  return outcome;
}

AuthOutcome X509SvidAuthenticator::Verify(std::string_view pem_chain,
                                          absl::Time now) const {
  std::optional<std::vector<X509Ptr>> chain =
      ParsePemCertificates(pem_chain, options_.max_chain_certificates);
  if (!chain.has_value() || chain->empty()) {
    return Fail(ReasonCode::kUnauthenticated,
                "X.509-SVID is not a PEM certificate chain");
  }
  if (static_cast<int>(chain->size()) > options_.max_chain_certificates) {
    return Fail(ReasonCode::kUnauthenticated,
                absl::StrCat("X.509-SVID chain has more than ",
                             options_.max_chain_certificates, " certificates"));
  }
  X509* leaf = chain->front().get();

  // Exactly one URI SAN, a SPIFFE ID.
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr)));
  std::string spiffe_id;
  int uri_count = 0;
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names.get());
       ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI) continue;
    ++uri_count;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    spiffe_id.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                     ASN1_STRING_length(uri));
  }
  ERR_clear_error();
  if (uri_count != 1) {
    return Fail(ReasonCode::kUnauthenticated,
                absl::StrCat("X.509-SVID leaf has ", uri_count,
                             " URI SANs, not exactly one"));
  }
  const std::string_view trust_domain = SpiffeTrustDomain(spiffe_id);
  if (trust_domain.empty()) {
    return Fail(ReasonCode::kUnauthenticated,
                "X.509-SVID URI SAN is not a SPIFFE ID");
  }
  const auto domain_it = domains_.find(
      absl::string_view(trust_domain.data(), trust_domain.size()));
  if (domain_it == domains_.end()) {
    return Fail(ReasonCode::kIssuerUnknown,
                "X.509-SVID trust domain is not configured");
  }

  // A leaf, not a CA, used for signatures.
  if (X509_check_ca(leaf) != 0) {
    return Fail(ReasonCode::kUnauthenticated, "X.509-SVID leaf is a CA");
  }
  if ((X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) != 0) {
    const uint32_t usage = X509_get_key_usage(leaf);
    if ((usage & KU_DIGITAL_SIGNATURE) == 0 ||
        (usage & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) != 0) {
      return Fail(ReasonCode::kUnauthenticated,
                  "X.509-SVID leaf key usage is not that of an SVID");
    }
  }

  const std::shared_ptr<X509_STORE> store = domain_it->second->Store();
  X509Stack untrusted(sk_X509_new_null());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (untrusted == nullptr || ctx == nullptr) {
    return Fail(ReasonCode::kUnauthenticated, "out of memory");
  }
  for (size_t i = 1; i < chain->size(); ++i) {
    if (sk_X509_push(untrusted.get(), (*chain)[i].get()) <= 0) {
      return Fail(ReasonCode::kUnauthenticated, "out of memory");
    }
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1) {
    ERR_clear_error();
    return Fail(ReasonCode::kUnauthenticated, "cannot set up verification");
  }
  X509_STORE_CTX_set_time(ctx.get(), 0, absl::ToTimeT(now));
  if (X509_verify_cert(ctx.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    const std::string why = X509_verify_cert_error_string(error);
    switch (error) {
      case X509_V_ERR_CERT_HAS_EXPIRED:
        return Fail(ReasonCode::kTokenExpired,
                    absl::StrCat("X.509-SVID chain: ", why));
      case X509_V_ERR_CERT_NOT_YET_VALID:
        return Fail(ReasonCode::kTokenNotYetValid,
                    absl::StrCat("X.509-SVID chain: ", why));
      default:
        return Fail(ReasonCode::kSignatureInvalid,
                    absl::StrCat("X.509-SVID chain does not verify to the "
                                 "trust domain's bundle: ",
                                 why));
    }
  }

  absl::Time expires_at = absl::InfiniteFuture();
  STACK_OF(X509)* verified = X509_STORE_CTX_get0_chain(ctx.get());
  for (int i = 0; i < sk_X509_num(verified); ++i) {
    const std::optional<absl::Time> not_after =
        NotAfter(sk_X509_value(verified, i));
    if (!not_after.has_value()) {
      return Fail(ReasonCode::kUnauthenticated,
                  "X.509-SVID chain has an unreadable notAfter");
    }
    expires_at = std::min(expires_at, *not_after);
  }

  auto identity = std::make_shared<Identity>();
  identity->subject = std::move(spiffe_id);
  identity->trust_domain = domain_it->first;
  identity->method = "x509";
  identity->issuer = domain_it->first;
  identity->expires_at = expires_at;
  return AuthOutcome::Success(std::move(identity));
}

absl::Status X509SvidAuthenticator::ReloadChangedBundles() {
  absl::MutexLock reload_lock(&reload_mu_);
  std::vector<std::string> errors;
  bool changed = false;
  for (auto& [name, domain] : domains_) {
    const std::string& file = domain->options.bundle_file;
    absl::StatusOr<FileStamp> stamp = StampFile(file);
    if (!stamp.ok()) {
      errors.push_back(std::string(stamp.status().message()));
      continue;
    }
    if (*stamp == domain->stamp) continue;
    absl::StatusOr<std::shared_ptr<X509_STORE>> store = LoadBundle(file);
    if (!store.ok()) {
      errors.push_back(
          absl::StrCat(store.status().message(), " (previous bundle kept)"));
      continue;
    }
    {
      absl::MutexLock lock(&domain->mu);
      domain->store.swap(*store);
    }
    domain->stamp = *stamp;
    changed = true;
  }
  if (changed) cache_.Clear();
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
  }
  return absl::OkStatus();
}

absl::Status X509SvidAuthenticator::StartWatching(absl::Duration debounce) {
  std::vector<std::string> files;
  for (const auto& [name, domain] : domains_) {
    files.push_back(domain->options.bundle_file);
  }
  absl::StatusOr<std::vector<std::unique_ptr<DirWatcher>>> watchers =
      WatchKeyFiles(files, debounce, [this] {
        const absl::Status status = ReloadChangedBundles();
        if (!status.ok()) {
          Log(LogLevel::kError, "trust bundle reload: ", status.message());
        }
      });
  if (!watchers.ok()) return watchers.status();
  absl::MutexLock reload_lock(&reload_mu_);
  for (auto& watcher : *watchers) watchers_.push_back(std::move(watcher));
  return absl::OkStatus();
}

}  // namespace verdict::authn
