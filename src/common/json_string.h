// JSON string literals, written by hand where building a JSON document is
// not worth it (log lines, error bodies, response envelopes around large
// float arrays). String escaping only: no JSON parsing or building here.
#pragma once

#include <string>
#include <string_view>

namespace clipserve {

// JSON string literal (quotes included) of `s`, escaped per RFC 8259: '"',
// '\\', "\n", "\r", "\t" as two-character escapes, other control characters
// as "\u00xx". Each byte that is not part of a valid UTF-8 sequence
// (RFC 3629: no overlongs, no surrogates, at most U+10FFFF) becomes U+FFFD,
// so echoing client input (a path, a header) or a file name always gives
// valid UTF-8 JSON, and never throws as nlohmann's strict dump does.
std::string JsonQuote(std::string_view s);

// Appends JsonQuote(s) to `out`.
void AppendJsonQuoted(std::string& out, std::string_view s);

}  // namespace clipserve
