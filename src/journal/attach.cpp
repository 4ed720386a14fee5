// Routing from the bus into the journal.
#include <cebus/bus.hpp>

#include "impl.hpp"

namespace cebus::journal {

using namespace detail;

Subscription Journal::attach(Bus& bus, Filter filter) {
    if (impl_->opt.read_only) throw JournalError(Errc::invalid, "journal: opened read-only; cannot attach to a bus");
    std::weak_ptr<Impl> weak = impl_;
    auto handler = [weak](const EventPtr& event) {
        auto im = weak.lock();
        if (!im) throw JournalError(Errc::closed, "journal: closed; event " + event->id() + " not journaled");
        auto req = std::make_unique<Request>();
        req->kind = Request::Kind::callback;
        req->callback = [raw = im.get(), id = event->id()](const AppendResult&, std::exception_ptr error) {
            if (!error) return;
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                raw->log_limited(LogLevel::error, "attach",
                                 "journal: event " + id + " routed from the bus was not stored: " + e.what());
            }
        };
        req->events.push_back(encode_pending(im->opt, *event));
        // Throws closed or too_large: the bus counts it as a failed call.
        im->submit(std::move(req));
    };
    return bus.subscribe_raw(std::move(filter), std::move(handler),
                             SubscribeOptions{}.sync().with_name("journal " + impl_->opt.directory.string()));
}

}  // namespace cebus::journal
