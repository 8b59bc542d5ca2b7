// UTF-8 validation for text read from files and the network (policies,
// configuration, test suites, reports).
//
// Strict: overlong forms, surrogates and code points above U+10FFFF are
// invalid. Pure function; safe from any thread.

#ifndef VERDICT_SERVER_COMMON_UTF8_H_
#define VERDICT_SERVER_COMMON_UTF8_H_

#include <cstddef>
#include <string_view>

namespace verdict {

// Byte offset of the first byte of `text` that is not well-formed UTF-8, or
// std::string_view::npos when the whole text is valid.
size_t FindInvalidUtf8(std::string_view text);

}  // namespace verdict

#endif  // VERDICT_SERVER_COMMON_UTF8_H_
