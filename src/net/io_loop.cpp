#include "net/io_loop.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace streamgate::net {

void RunIoLoop(boost::asio::io_context& ioc, std::string_view thread_name) {
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("{} thread: unexpected exception: {}", thread_name, e.what());
    } catch (...) {
      spdlog::error("{} thread: unexpected exception", thread_name);
    }
  }
}

}  // namespace streamgate::net
