#include "server/common/flags.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace verdict {

const std::string& ParsedFlags::Get(const std::string& name,
                                    const std::string& fallback) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return fallback;
  return it->second.back();
}

const std::vector<std::string>& ParsedFlags::GetAll(
    const std::string& name) const {
  static const std::vector<std::string>* const kNone =
      new std::vector<std::string>();
  auto it = values_.find(name);
  return it == values_.end() ? *kNone : it->second;
}

absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<FlagSpec>& specs,
                                       const std::vector<std::string>& args) {
  ParsedFlags parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      parsed.positional_.insert(parsed.positional_.end(), args.begin() + i + 1,
                                args.end());
      break;
    }
    if (!absl::StartsWith(arg, "-") || arg == "-") {
      parsed.positional_.push_back(arg);
      continue;
    }
    const size_t dashes = absl::StartsWith(arg, "--") ? 2 : 1;
    const size_t equals = arg.find('=');
    const std::string name =
        arg.substr(dashes, equals == std::string::npos ? std::string::npos
                                                       : equals - dashes);
    auto spec = std::find_if(specs.begin(), specs.end(),
                             [&](const FlagSpec& s) { return s.name == name; });
    if (spec == specs.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", arg));
    }
    std::string value;
    if (spec->value_name.empty()) {
      if (equals != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " takes no value"));
      }
    } else if (equals != std::string::npos) {
      value = arg.substr(equals + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " needs a value (", spec->value_name, ")"));
    }
    std::vector<std::string>& values = parsed.values_[name];
    if (!values.empty()) {
      switch (spec->repeated) {
        case Repeated::kNo:
          return absl::InvalidArgumentError(
              absl::StrCat("--", name, " given more than once"));
        case Repeated::kCollect:
          break;
        case Repeated::kLastWins:
          values.clear();
          break;
      }
    }
    values.push_back(std::move(value));
  }
  return parsed;
}

std::string FlagsUsage(const std::vector<FlagSpec>& specs) {
  std::vector<std::string> heads;
  size_t width = 0;
  for (const FlagSpec& spec : specs) {
    std::string head = absl::StrCat("  --", spec.name);
    if (!spec.value_name.empty()) absl::StrAppend(&head, " ", spec.value_name);
    if (spec.repeated == Repeated::kCollect) absl::StrAppend(&head, "...");
    width = std::max(width, head.size());
    heads.push_back(std::move(head));
  }
  std::string out;
  for (size_t i = 0; i < specs.size(); ++i) {
    absl::StrAppend(&out, heads[i],
                    std::string(width + 2 - heads[i].size(), ' '),
                    specs[i].help, "\n");
  }
  return out;
}

}  // namespace verdict
