// Commands of the `cebus` tool. Each takes the arguments after its own name
// and returns the process exit code: 0 on success, 1 when the command ran but
// found a problem (invalid events, no match), 2 on a usage error.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace cebus::tool {

using Args = std::vector<std::string>;

int validate(const Args& args, std::ostream& out, std::ostream& err);
int match(const Args& args, std::ostream& out, std::ostream& err);
// Journal commands: inspect, tail, dead-letters, export, import.
int journal(const std::string& command, const Args& args, std::ostream& out, std::ostream& err);
// `io-events emulator` and friends.
int io_events(const Args& args, std::ostream& out, std::ostream& err);

}  // namespace cebus::tool
