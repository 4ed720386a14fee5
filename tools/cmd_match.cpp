#include <ostream>

#include "commands.hpp"

namespace cebus::tool {

int match(const Args&, std::ostream&, std::ostream& err) {
    err << "cebus match: not implemented yet\n";
    return 2;
}

}  // namespace cebus::tool
