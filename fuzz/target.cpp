// One libFuzzer program per entry function; meson compiles this file once
// per target with CEBUS_FUZZ_ENTRY naming the function in entries.hpp.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "entries.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // An exception escaping here terminates the process, which libFuzzer
    // records as a crash together with the input.
    cebus::fuzz::CEBUS_FUZZ_ENTRY(std::string_view(reinterpret_cast<const char*>(data), size));
    return 0;
}
