#include <ostream>

#include "commands.hpp"

namespace cebus::tool {

int io_events(const Args&, std::ostream&, std::ostream& err) {
    err << "cebus io-events: not implemented yet\n";
    return 2;
}

}  // namespace cebus::tool
