#include "inbound.hpp"

#include <cebus/json.hpp>

namespace cebus::io_events::detail {

std::string adobe_event_id(const nlohmann::json& body) {
    if (!body.is_object()) return {};
    for (const char* name : {"eventid", "event_id"}) {
        auto it = body.find(name);
        if (it != body.end() && it->is_string()) return it->get<std::string>();
    }
    return {};
}

EventPtr inbound_event(const nlohmann::json& body, const std::string& fallback_source,
                       const std::string& fallback_id) {
    if (body.is_object() && body.contains("specversion")) {
        nlohmann::json cleaned = body;
        cleaned.erase("event_id");
        cleaned.erase("recipient_client_id");
        try {
            return json::from_json_value(cleaned);
        } catch (const Error&) {
            // Not a valid CloudEvent after all: wrapped below.
        }
    }
    std::string id = adobe_event_id(body);
    if (id.empty()) id = fallback_id;
    EventBuilder b;
    b.id(id).source(fallback_source).type("com.adobe.io.events.entry").data_json(body);
    if (const std::string event_id = adobe_event_id(body); !event_id.empty()) b.extension("eventid", event_id);
    return b.build();
}

}  // namespace cebus::io_events::detail
