#include <ostream>

#include "commands.hpp"

namespace cebus::tool {

int validate(const Args&, std::ostream&, std::ostream& err) {
    err << "cebus validate: not implemented yet\n";
    return 2;
}

}  // namespace cebus::tool
