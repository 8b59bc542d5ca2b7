#include "server/authn/base64url.h"

#include <array>
#include <cstdint>

namespace verdict::authn {
namespace {

constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr uint8_t kInvalid = 0xff;

constexpr std::array<uint8_t, 256> MakeDecodeTable() {
  std::array<uint8_t, 256> table{};
  for (auto& entry : table) entry = kInvalid;
  for (int i = 0; i < 64; ++i) table[static_cast<uint8_t>(kAlphabet[i])] = i;
  return table;
}
constexpr std::array<uint8_t, 256> kDecode = MakeDecodeTable();

}  // namespace

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t bits = 0;
  int bit_count = 0;
  for (const char c : text) {
    const uint8_t value = kDecode[static_cast<uint8_t>(c)];
    if (value == kInvalid) return std::nullopt;
    bits = (bits << 6) | value;
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out.push_back(static_cast<char>((bits >> bit_count) & 0xff));
    }
  }
  // Leftover bits must be zero, or two encodings would decode alike.
  if ((bits & ((1u << bit_count) - 1)) != 0) return std::nullopt;
  return out;
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  uint32_t bits = 0;
  int bit_count = 0;
  for (const char c : bytes) {
    bits = (bits << 8) | static_cast<uint8_t>(c);
    bit_count += 8;
    while (bit_count >= 6) {
      bit_count -= 6;
      out.push_back(kAlphabet[(bits >> bit_count) & 0x3f]);
    }
  }
  if (bit_count > 0) out.push_back(kAlphabet[(bits << (6 - bit_count)) & 0x3f]);
  return out;
}

std::optional<CompactJws> DecodeCompactJws(std::string_view token,
                                           std::string_view* error) {
  const size_t first_dot = token.find('.');
  const size_t second_dot = first_dot == std::string_view::npos
                                ? std::string_view::npos
                                : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos ||
      token.find('.', second_dot + 1) != std::string_view::npos) {
    *error = "is not a compact JWS (three segments)";
    return std::nullopt;
  }
  std::optional<std::string> header =
      Base64UrlDecode(token.substr(0, first_dot));
  std::optional<std::string> payload =
      Base64UrlDecode(token.substr(first_dot + 1, second_dot - first_dot - 1));
  std::optional<std::string> signature =
      Base64UrlDecode(token.substr(second_dot + 1));
  if (!header.has_value() || !payload.has_value() || !signature.has_value()) {
    *error = "segment is not canonical base64url";
    return std::nullopt;
  }
  return CompactJws{.signing_input = token.substr(0, second_dot),
                    .header = *std::move(header),
                    .payload = *std::move(payload),
                    .signature = *std::move(signature)};
}

}  // namespace verdict::authn
