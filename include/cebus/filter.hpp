// Subscription filters: the dialects of the CloudEvents Subscriptions API.
//
// `exact`, `prefix` and `suffix` compare an attribute's canonical string,
// case-sensitively; an absent attribute never matches. `all`, `any` and `not`
// combine filters, and `sql` evaluates a CESQL expression, matching only when
// it yields Boolean true with no error. A default-constructed Filter matches
// every event.
//
// A Filter is immutable and cheap to copy (it shares its tree), and match()
// is thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <cebus/event.hpp>

namespace cebus {

namespace cesql {
class Expression;
}

// One node of a filter tree. Implementations must be immutable after
// construction so that match() can run on any thread.
class FilterNode {
public:
    virtual ~FilterNode() = default;
    // Returns whether `event` passes this node. The bus calls it on the
    // publishing thread, often from many threads at once, so it should
    // neither block nor throw.
    virtual bool match(const Event& event) const = 0;
    // The Subscriptions API JSON of this node, e.g. {"exact":{"type":"x"}}.
    virtual nlohmann::json to_json() const = 0;
};

// A subscription filter: a shared, immutable tree of FilterNode, built with
// the functions in cebus::filters. An empty tree matches every event.
class Filter {
public:
    // Matches every event.
    Filter() = default;
    // Wraps a host-made node; a null `node` matches every event.
    explicit Filter(std::shared_ptr<const FilterNode> node) : node_(std::move(node)) {}

    // Returns whether `event` passes. Thread-safe; does not allocate unless a
    // node does.
    bool match(const Event& event) const { return !node_ || node_->match(event); }
    // True for a filter with no tree, which matches every event without a call.
    bool matches_all() const noexcept { return !node_; }
    // The root of the tree, or null when matches_all().
    const std::shared_ptr<const FilterNode>& node() const noexcept { return node_; }

    // When every event this filter matches has exactly this `type`, returns
    // it, so the router can index the subscription by type. This holds for
    // exact(type) and for all() containing one.
    std::optional<std::string> exact_type() const;

    // The Subscriptions API JSON of the filter. A filter that matches every
    // event gives an empty `filters` array, `[]`. Allocates.
    nlohmann::json to_json() const;

private:
    std::shared_ptr<const FilterNode> node_;
};

namespace filters {

// Each attribute named in `attributes` must equal / start with / end with the
// given string. Throws ValidationError for an empty name or value or an
// invalid attribute name.
Filter exact(std::vector<std::pair<std::string, std::string>> attributes);
Filter prefix(std::vector<std::pair<std::string, std::string>> attributes);
Filter suffix(std::vector<std::pair<std::string, std::string>> attributes);
inline Filter exact(std::string attribute, std::string value) {
    return exact({{std::move(attribute), std::move(value)}});
}
inline Filter prefix(std::string attribute, std::string value) {
    return prefix({{std::move(attribute), std::move(value)}});
}
inline Filter suffix(std::string attribute, std::string value) {
    return suffix({{std::move(attribute), std::move(value)}});
}
// Shorthand for exact("type", type).
inline Filter type(std::string type) { return exact("type", std::move(type)); }

// all() and any() need at least one filter (ValidationError otherwise).
Filter all(std::vector<Filter> filters);
Filter any(std::vector<Filter> filters);
// Matches exactly the events `filter` does not: the `not` dialect.
Filter negate(Filter filter);

// Compiles a CESQL v1 expression. Throws cesql::CompileError with the
// position and reason, also for a call to an unknown function.
Filter sql(std::string_view expression);
// Wraps an expression compiled by the host, for example with its own
// functions (see cesql.hpp).
Filter sql(cesql::Expression expression);

// Loads the `filters` array or one filter object of the Subscriptions API
// JSON. An array means all of its members; an empty array matches all.
// Throws ValidationError for an unknown dialect or a malformed filter, and
// cesql::CompileError for a bad `sql` expression.
Filter from_json(const nlohmann::json& value);

}  // namespace filters
}  // namespace cebus
