// Internal: turns events received from I/O Events (journal entries and
// webhook bodies) into cebus events.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include <cebus/event.hpp>

namespace cebus::io_events::detail {

// A CloudEvent as Adobe delivers it loses the deprecated snake_case copies
// (event_id, recipient_client_id), which are not valid CloudEvents attribute
// names; the current eventid and recipientclientid stay as extensions. A body
// that is not a valid CloudEvent (older Adobe formats) is wrapped: id = its
// eventid/event_id (or `fallback_id`), source = `fallback_source`, type
// "com.adobe.io.events.entry", data = the JSON as received.
EventPtr inbound_event(const nlohmann::json& body, const std::string& fallback_source,
                       const std::string& fallback_id);

// The Adobe event id of a body (eventid, else event_id), or empty.
std::string adobe_event_id(const nlohmann::json& body);

}  // namespace cebus::io_events::detail
