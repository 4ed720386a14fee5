// Socket options for the embedded HTTP servers (webhook receiver, emulator).
#pragma once

#include <httplib.h>

#include <sys/socket.h>

namespace cebus::io_events::detail {

// cpp-httplib sets SO_REUSEPORT by default, which lets a second server bind
// a port that is already in use and makes the kernel split connections
// between the two. SO_REUSEADDR alone still allows a quick restart on a port
// left in TIME_WAIT, but a port in use fails to bind, as a host expects.
inline void use_exclusive_port(httplib::Server& server) {
    server.set_socket_options([](socket_t socket) {
        int enable = 1;
        ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &enable, sizeof(enable));
    });
}

}  // namespace cebus::io_events::detail
