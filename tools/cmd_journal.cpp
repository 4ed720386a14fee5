#include <ostream>

#include "commands.hpp"

namespace cebus::tool {

int journal(const std::string& command, const Args&, std::ostream&, std::ostream& err) {
    err << "cebus " << command << ": not implemented yet\n";
    return 2;
}

}  // namespace cebus::tool
