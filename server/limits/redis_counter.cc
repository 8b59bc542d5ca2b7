#include "server/limits/redis_counter.h"

#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace verdict::limits {
namespace {

// KEYS: the counts; ARGV: per key, its calls and its expiry in ms. Returns
// {1} when every count had room and was incremented, else {0, i, count}
// for the first count (1-based) without room, having changed nothing.
constexpr std::string_view kTakeScript = R"lua(
for i = 1, #KEYS do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count >= tonumber(ARGV[2 * i - 1]) then
    return {0, i, count}
  end
end
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then
    redis.call('PEXPIRE', KEYS[i], ARGV[2 * i])
  end
end
return {1}
)lua";

}  // namespace

RedisLimitCounter::RedisLimitCounter(redis::RedisClient* client,
                                     std::string key_prefix)
    : client_(client),
      prefix_(absl::StrCat(key_prefix, "limit:")),
      script_(std::string(kTakeScript)) {}

absl::StatusOr<TakeResult> RedisLimitCounter::Take(
    absl::Span<const LimitTake> takes, absl::Time now) {
  std::vector<std::string> keys;
  std::vector<std::string> args;
  std::vector<Window> windows;
  keys.reserve(takes.size());
  args.reserve(2 * takes.size());
  windows.reserve(takes.size());
  for (const LimitTake& take : takes) {
    const Window window = WindowAt(take.window, now);
    windows.push_back(window);
    keys.push_back(
        absl::StrCat(prefix_, std::string(take.key), ":", window.number));
    args.push_back(absl::StrCat(take.calls));
    args.push_back(absl::StrCat(
        absl::ToInt64Milliseconds(window.end - now + kExpiryGrace)));
  }
  const std::vector<std::string_view> key_views(keys.begin(), keys.end());
  const std::vector<std::string_view> arg_views(args.begin(), args.end());
  absl::StatusOr<redis::RedisReply> reply =
      client_->Eval(script_, key_views, arg_views);
  if (!reply.ok()) return reply.status();
  const std::vector<redis::RedisReply>& parts = reply->elements;
  const auto integer = [&parts](size_t i) {
    return i < parts.size() &&
           parts[i].type == redis::RedisReply::Type::kInteger;
  };
  if (reply->type != redis::RedisReply::Type::kArray || !integer(0)) {
    return absl::InternalError("the limit script gave an unexpected reply");
  }
  TakeResult result;
  if (parts[0].integer == 1) {
    result.allowed = true;
    return result;
  }
  if (!integer(1) || !integer(2) || parts[1].integer < 1 ||
      parts[1].integer > static_cast<int64_t>(takes.size())) {
    return absl::InternalError("the limit script gave an unexpected reply");
  }
  result.exhausted = static_cast<size_t>(parts[1].integer - 1);
  result.count = parts[2].integer;
  result.resets_at = windows[result.exhausted].end;
  return result;
}

}  // namespace verdict::limits
