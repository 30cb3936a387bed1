// Running an io_context on a server thread (internal to src/net and src/proxy; includes Asio).
#pragma once

#include <boost/asio/io_context.hpp>
#include <string_view>

namespace streamgate::net {

// Runs `ioc` until it stops. A handler that throws is logged and the loop resumes, so one bad
// connection never takes a server thread down.
void RunIoLoop(boost::asio::io_context& ioc, std::string_view thread_name);

}  // namespace streamgate::net
