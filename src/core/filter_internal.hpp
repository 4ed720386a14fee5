// Filter details the router needs. Not part of the public API.
#pragma once

#include <cebus/filter.hpp>

namespace cebus::detail {

// True when the filter is exactly exact("type", X) and nothing else, so a
// match on the router's type index needs no further check.
bool is_type_only(const Filter& filter) noexcept;

}  // namespace cebus::detail
