// Subscription filters: exact, prefix and any on attributes, a CESQL
// expression, and the Subscriptions API JSON form. Every subscriber here is
// sync, so each publish has run its handlers when it returns and the counts
// can be checked right away. docs/cesql.md quotes the snippet regions.
#include <cebus/bus.hpp>
#include <cebus/cesql.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

namespace {

cebus::EventPtr order_event(const std::string& id, const std::string& type, const std::string& source,
                            int amount) {
    cebus::EventBuilder builder;
    builder.id(id).source(source).type(type).subject("order/" + id);
    builder.extension("amount", static_cast<std::int64_t>(amount));
    builder.data_json({{"amount", amount}});
    return builder.build();
}

bool expect(const char* what, int got, int want) {
    std::cout << what << ": " << got << " (expected " << want << ")\n";
    return got == want;
}

}  // namespace

int main() {
    cebus::Bus bus;
    const auto sync = cebus::SubscribeOptions{}.sync();
    int exact_hits = 0, prefix_hits = 0, any_hits = 0, sql_hits = 0, json_hits = 0;

    // [snippet:attribute-filters]
    // One event type, matched through the router's type index.
    auto created = bus.subscribe(cebus::filters::type("com.example.order.created"),
                                 [&](const cebus::Event&) { ++exact_hits; }, sync);

    // Every type under a namespace.
    auto orders = bus.subscribe(cebus::filters::prefix("type", "com.example.order."),
                                [&](const cebus::Event&) { ++prefix_hits; }, sync);

    // Either of two sources.
    auto shops = bus.subscribe(cebus::filters::any({cebus::filters::exact("source", "/shop/eu"),
                                                    cebus::filters::exact("source", "/shop/us")}),
                               [&](const cebus::Event&) { ++any_hits; }, sync);
    // [snippet:attribute-filters]

    // [snippet:sql-filter]
    // A CESQL v1 expression: matches only when it yields Boolean true with no
    // error. `amount` is an Integer extension attribute.
    auto large = bus.subscribe(
        cebus::filters::sql("type LIKE 'com.example.order.%' AND amount > 100 AND EXISTS subject"),
        [&](const cebus::Event& e) {
            ++sql_hits;
            std::cout << "large order " << e.id() << '\n';
        },
        sync);
    // [snippet:sql-filter]

    // [snippet:json-filter]
    // The same dialects as Subscriptions API JSON, e.g. from a config file.
    const auto filter = cebus::filters::from_json(nlohmann::json::parse(R"([
        {"prefix": {"type": "com.example.order."}},
        {"not": {"exact": {"source": "/shop/test"}}}
    ])"));
    auto real_orders = bus.subscribe(filter, [&](const cebus::Event&) { ++json_hits; }, sync);
    // [snippet:json-filter]

    bus.publish(order_event("1", "com.example.order.created", "/shop/eu", 250));
    bus.publish(order_event("2", "com.example.order.created", "/shop/test", 20));
    bus.publish(order_event("3", "com.example.order.shipped", "/shop/us", 150));
    bus.publish(order_event("4", "com.example.invoice.sent", "/billing", 999));

    // [snippet:cesql-evaluate]
    // Evaluating directly shows the value and every error. Integer overflow
    // is a math error and the operator yields 0.
    const auto event = order_event("5", "com.example.order.created", "/shop/eu", 2147483647);
    const auto result = cebus::cesql::Expression::compile("amount + 1").evaluate(*event);
    std::cout << "amount + 1 = " << result.to_string();
    for (const auto& error : result.errors()) {
        std::cout << " [" << cebus::cesql::error_kind_name(error.kind) << " error at offset "
                  << error.offset << ": " << error.message << ']';
    }
    std::cout << '\n';
    // [snippet:cesql-evaluate]

    // [snippet:compile-error]
    try {
        cebus::filters::sql("type = 'a' AND");
    } catch (const cebus::cesql::CompileError& e) {
        std::cout << "rejected: " << e.what() << '\n';
    }
    // [snippet:compile-error]

    bool ok = true;
    ok = expect("exact type", exact_hits, 2) && ok;
    ok = expect("type prefix", prefix_hits, 3) && ok;
    ok = expect("any source", any_hits, 2) && ok;
    ok = expect("CESQL", sql_hits, 2) && ok;
    ok = expect("JSON filters", json_hits, 2) && ok;
    ok = expect("overflow yields", result.as_integer(), 0) && ok;
    ok = expect("math errors", result.has_error(cebus::cesql::ErrorKind::math) ? 1 : 0, 1) && ok;
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
