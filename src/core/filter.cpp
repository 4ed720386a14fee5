// The exact, prefix, suffix, all, any and not dialects of the CloudEvents
// Subscriptions API. CESQL (`sql`) and loading from JSON live in cesql.cpp
// and filter_json.cpp.
#include <cebus/filter.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "filter_internal.hpp"

namespace cebus {
namespace {

enum class MatchKind { exact, prefix, suffix };

std::string_view dialect_name(MatchKind kind) {
    switch (kind) {
        case MatchKind::exact:
            return "exact";
        case MatchKind::prefix:
            return "prefix";
        case MatchKind::suffix:
            return "suffix";
    }
    return "exact";
}

// Compares one attribute against a string without allocating when the
// attribute is text; Boolean, Integer and Binary extensions are compared by
// their canonical string.
class AttributeMatchNode final : public FilterNode {
public:
    AttributeMatchNode(MatchKind kind, std::vector<std::pair<std::string, std::string>> attributes)
        : kind_(kind), attributes_(std::move(attributes)) {}

    bool match(const Event& event) const override {
        for (const auto& [name, expected] : attributes_) {
            if (!match_one(event, name, expected)) return false;
        }
        return true;
    }

    nlohmann::json to_json() const override {
        nlohmann::json members = nlohmann::json::object();
        for (const auto& [name, value] : attributes_) members[name] = value;
        return {{std::string(dialect_name(kind_)), members}};
    }

    MatchKind kind() const noexcept { return kind_; }
    const std::vector<std::pair<std::string, std::string>>& attributes() const noexcept { return attributes_; }

private:
    bool compare(std::string_view actual, std::string_view expected) const noexcept {
        switch (kind_) {
            case MatchKind::exact:
                return actual == expected;
            case MatchKind::prefix:
                return actual.starts_with(expected);
            case MatchKind::suffix:
                return actual.ends_with(expected);
        }
        return false;
    }

    bool match_one(const Event& event, const std::string& name, const std::string& expected) const {
        if (auto text = event.attribute_text(name)) return compare(*text, expected);
        const AttributeValue* value = event.extension(name);
        if (!value) return false;
        return compare(to_canonical_string(*value), expected);
    }

    MatchKind kind_;
    std::vector<std::pair<std::string, std::string>> attributes_;
};

class AllNode final : public FilterNode {
public:
    explicit AllNode(std::vector<Filter> filters) : filters_(std::move(filters)) {}
    bool match(const Event& event) const override {
        for (const auto& f : filters_) {
            if (!f.match(event)) return false;
        }
        return true;
    }
    nlohmann::json to_json() const override {
        nlohmann::json items = nlohmann::json::array();
        for (const auto& f : filters_) items.push_back(f.to_json());
        return {{"all", items}};
    }
    const std::vector<Filter>& filters() const noexcept { return filters_; }

private:
    std::vector<Filter> filters_;
};

class AnyNode final : public FilterNode {
public:
    explicit AnyNode(std::vector<Filter> filters) : filters_(std::move(filters)) {}
    bool match(const Event& event) const override {
        for (const auto& f : filters_) {
            if (f.match(event)) return true;
        }
        return false;
    }
    nlohmann::json to_json() const override {
        nlohmann::json items = nlohmann::json::array();
        for (const auto& f : filters_) items.push_back(f.to_json());
        return {{"any", items}};
    }

private:
    std::vector<Filter> filters_;
};

class NotNode final : public FilterNode {
public:
    explicit NotNode(Filter inner) : inner_(std::move(inner)) {}
    bool match(const Event& event) const override { return !inner_.match(event); }
    nlohmann::json to_json() const override { return {{"not", inner_.to_json()}}; }

private:
    Filter inner_;
};

Filter make_attribute_filter(MatchKind kind, std::vector<std::pair<std::string, std::string>> attributes) {
    const std::string dialect(dialect_name(kind));
    if (attributes.empty()) {
        throw ValidationError(dialect, "{}", "a " + dialect + " filter needs at least one attribute");
    }
    for (const auto& [name, value] : attributes) {
        if (name.empty()) throw ValidationError(dialect, "", "attribute names must not be empty");
        validate_attribute_name(name);
        if (value.empty()) {
            throw ValidationError(name, "", "a " + dialect + " filter value must not be empty");
        }
    }
    return Filter(std::make_shared<const AttributeMatchNode>(kind, std::move(attributes)));
}

void require_members(std::string_view dialect, const std::vector<Filter>& filters) {
    if (filters.empty()) {
        throw ValidationError(std::string(dialect), "[]", "an " + std::string(dialect) + " filter needs at least one member");
    }
}

const AttributeMatchNode* as_attribute_match(const Filter& filter) noexcept {
    return dynamic_cast<const AttributeMatchNode*>(filter.node().get());
}

}  // namespace

std::optional<std::string> Filter::exact_type() const {
    if (const auto* node = as_attribute_match(*this)) {
        if (node->kind() != MatchKind::exact) return std::nullopt;
        for (const auto& [name, value] : node->attributes()) {
            if (name == "type") return value;
        }
        return std::nullopt;
    }
    if (const auto* all = dynamic_cast<const AllNode*>(node_.get())) {
        for (const auto& member : all->filters()) {
            if (auto type = member.exact_type()) return type;
        }
    }
    return std::nullopt;
}

nlohmann::json Filter::to_json() const {
    // The Subscriptions API writes "match everything" as an empty filters array.
    if (!node_) return nlohmann::json::array();
    return node_->to_json();
}

namespace filters {

Filter exact(std::vector<std::pair<std::string, std::string>> attributes) {
    return make_attribute_filter(MatchKind::exact, std::move(attributes));
}

Filter prefix(std::vector<std::pair<std::string, std::string>> attributes) {
    return make_attribute_filter(MatchKind::prefix, std::move(attributes));
}

Filter suffix(std::vector<std::pair<std::string, std::string>> attributes) {
    return make_attribute_filter(MatchKind::suffix, std::move(attributes));
}

Filter all(std::vector<Filter> members) {
    require_members("all", members);
    return Filter(std::make_shared<const AllNode>(std::move(members)));
}

Filter any(std::vector<Filter> members) {
    require_members("any", members);
    return Filter(std::make_shared<const AnyNode>(std::move(members)));
}

Filter negate(Filter filter) { return Filter(std::make_shared<const NotNode>(std::move(filter))); }

}  // namespace filters

namespace detail {

bool is_type_only(const Filter& filter) noexcept {
    const auto* node = as_attribute_match(filter);
    return node && node->kind() == MatchKind::exact && node->attributes().size() == 1 &&
           node->attributes().front().first == "type";
}

}  // namespace detail
}  // namespace cebus
