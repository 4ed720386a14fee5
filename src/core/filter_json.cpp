// The `sql` filter dialect and loading filters from the JSON of the
// CloudEvents Subscriptions API. The other dialects are built by the
// functions in filter.cpp.
#include <cebus/cesql.hpp>
#include <cebus/filter.hpp>

#include <string>
#include <utility>
#include <vector>

namespace cebus {
namespace {

class SqlNode final : public FilterNode {
public:
    explicit SqlNode(cesql::Expression expression) : expression_(std::move(expression)) {}

    // Boolean true with no error; any error, false or non-Boolean value is
    // no match.
    bool match(const Event& event) const override { return expression_.matches(event); }
    nlohmann::json to_json() const override { return {{"sql", expression_.text()}}; }

private:
    cesql::Expression expression_;
};

// Nested all/any/not deeper than this are rejected, so a hostile document
// cannot exhaust the stack while loading or matching.
constexpr std::size_t max_filter_depth = 64;

std::string excerpt(const nlohmann::json& value) {
    std::string text = value.dump();
    if (text.size() > 80) text = text.substr(0, 77) + "...";
    return text;
}

std::vector<std::pair<std::string, std::string>> attribute_map(const std::string& dialect,
                                                               const nlohmann::json& value) {
    if (!value.is_object() || value.empty()) {
        throw ValidationError(dialect, excerpt(value),
                              "a " + dialect + " filter takes a non-empty object of attribute names and strings");
    }
    std::vector<std::pair<std::string, std::string>> attributes;
    for (const auto& [name, text] : value.items()) {
        if (!text.is_string()) {
            throw ValidationError(dialect + "." + name, excerpt(text), "filter values must be strings");
        }
        attributes.emplace_back(name, text.get<std::string>());
    }
    return attributes;
}

Filter load(const nlohmann::json& value, std::size_t depth);

std::vector<Filter> load_members(const std::string& dialect, const nlohmann::json& value, std::size_t depth) {
    if (!value.is_array() || value.empty()) {
        throw ValidationError(dialect, excerpt(value), "an " + dialect + " filter takes a non-empty array of filters");
    }
    std::vector<Filter> members;
    members.reserve(value.size());
    for (const auto& member : value) {
        if (!member.is_object()) {
            throw ValidationError(dialect, excerpt(member), "each member of " + dialect + " must be a filter object");
        }
        members.push_back(load(member, depth + 1));
    }
    return members;
}

Filter load_object(const nlohmann::json& value, std::size_t depth) {
    if (depth > max_filter_depth) {
        throw ValidationError("filter", excerpt(value),
                              "filters nested deeper than " + std::to_string(max_filter_depth) + " levels");
    }
    if (value.size() != 1) {
        throw ValidationError("filter", excerpt(value), "a filter object has exactly one member, its dialect");
    }
    const auto member = value.begin();
    const std::string& dialect = member.key();
    const nlohmann::json& body = member.value();

    if (dialect == "exact") return filters::exact(attribute_map(dialect, body));
    if (dialect == "prefix") return filters::prefix(attribute_map(dialect, body));
    if (dialect == "suffix") return filters::suffix(attribute_map(dialect, body));
    if (dialect == "all") return filters::all(load_members(dialect, body, depth));
    if (dialect == "any") return filters::any(load_members(dialect, body, depth));
    if (dialect == "not") {
        if (!body.is_object()) {
            throw ValidationError("not", excerpt(body), "a not filter takes one filter object");
        }
        return filters::negate(load(body, depth + 1));
    }
    if (dialect == "sql") {
        if (!body.is_string()) {
            throw ValidationError("sql", excerpt(body), "a sql filter takes a CESQL expression string");
        }
        return filters::sql(body.get<std::string>());
    }
    throw ValidationError("filter dialect", dialect,
                          "unsupported; the dialects are exact, prefix, suffix, all, any, not and sql");
}

Filter load(const nlohmann::json& value, std::size_t depth) {
    if (value.is_object()) return load_object(value, depth);
    if (value.is_array()) {
        // The `filters` array: every member must match.
        if (value.empty()) return Filter();
        std::vector<Filter> members;
        members.reserve(value.size());
        for (const auto& member : value) {
            if (!member.is_object()) {
                throw ValidationError("filters", excerpt(member), "each member of filters must be a filter object");
            }
            members.push_back(load_object(member, depth + 1));
        }
        if (members.size() == 1) return std::move(members.front());
        return filters::all(std::move(members));
    }
    throw ValidationError("filters", excerpt(value), "expected a filter object or an array of filters");
}

}  // namespace

namespace filters {

Filter sql(std::string_view expression) {
    // A call to an unknown function could never succeed, so it is rejected
    // when the subscription is made, as the Subscriptions API recommends for
    // invalid expressions.
    cesql::CompileOptions options;
    options.reject_unknown_functions = true;
    return sql(cesql::Expression::compile(expression, options));
}

Filter sql(cesql::Expression expression) { return Filter(std::make_shared<const SqlNode>(std::move(expression))); }

Filter from_json(const nlohmann::json& value) { return load(value, 0); }

}  // namespace filters
}  // namespace cebus
