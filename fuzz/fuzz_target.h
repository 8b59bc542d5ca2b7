// What every fuzz target in this directory shares. Each *_fuzzer.cc defines
// the libFuzzer entry point LLVMFuzzerTestOneInput, which hands the input to
// its FuzzOneInput as text (AsText); Require states a property the code under
// test promises; kFixedNow is the clock every target reads, so that an input
// behaves the same on every run.
//
// A violated property prints what was expected and aborts, which libFuzzer
// reports as a crash with the input that caused it and the replay main shows
// as a failed test. Thread-compatible; no state.

#ifndef VERDICT_FUZZ_FUZZ_TARGET_H_
#define VERDICT_FUZZ_FUZZ_TARGET_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "absl/time/time.h"

namespace verdict::fuzz {

// Tuesday 2026-01-06 10:30:00 UTC: inside the validity of the seed tokens
// and certificates.
inline constexpr absl::Time kFixedNow = absl::FromUnixSeconds(1767695400);

inline void Require(bool holds, const char* property) {
  if (holds) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", property);
  std::abort();
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace verdict::fuzz

#endif  // VERDICT_FUZZ_FUZZ_TARGET_H_
