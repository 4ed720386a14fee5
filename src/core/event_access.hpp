// Direct access to an Event's fields for the decoders in src/core, which
// validate as they parse and build events without a second validation pass.
// Not part of the public API.
#pragma once

#include <cebus/event.hpp>

namespace cebus::detail {

struct EventAccess {
    // A new, empty event; the caller fills and validates every field.
    static std::shared_ptr<Event> make();

    static std::string& id(Event& e) { return e.id_; }
    static std::string& source(Event& e) { return e.source_; }
    static std::string& specversion(Event& e) { return e.specversion_; }
    static std::string& type(Event& e) { return e.type_; }
    static std::optional<std::string>& datacontenttype(Event& e) { return e.datacontenttype_; }
    static std::optional<std::string>& dataschema(Event& e) { return e.dataschema_; }
    static std::optional<std::string>& subject(Event& e) { return e.subject_; }
    static std::optional<Timestamp>& time(Event& e) { return e.time_; }
    static std::vector<std::pair<std::string, AttributeValue>>& extensions(Event& e) { return e.extensions_; }
    static DataKind& data_kind(Event& e) { return e.data_kind_; }
    static std::string& data(Event& e) { return e.data_; }
};

// The `datacontenttype` check of EventBuilder::build(), for decoders that
// build events directly. Throws ValidationError.
void validate_media_type(std::string_view value);

}  // namespace cebus::detail
