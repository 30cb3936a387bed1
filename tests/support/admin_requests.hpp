// Building admin API requests and reading responses in tests that call AdminApi::Handle.
#pragma once

#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http_types.hpp"

namespace streamgate::testing {

// A request as the server would build it: path and query split from the target.
inline net::HttpRequest MakeRequest(std::string method, std::string target, std::string body = "") {
  net::HttpRequest request;
  request.method = std::move(method);
  request.target = target;
  const std::size_t question = target.find('?');
  request.path = target.substr(0, question);
  if (question != std::string::npos) request.query = target.substr(question + 1);
  request.body = std::move(body);
  request.remote_address = "127.0.0.1";
  return request;
}

// The first value of header `name` (exact case), or "<none>".
inline std::string HeaderOf(const net::HttpResponse& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "<none>";
}

// Lines of a Prometheus exposition, for "contains this exact line" checks.
inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace streamgate::testing
