#include "admin/router.hpp"

#include <algorithm>
#include <cstddef>
#include <string>

#include "admin/json_http.hpp"

namespace streamgate::admin {
namespace {

// A path segment with its position, so a greedy parameter can capture the raw text spanning
// several segments (slashes included) instead of re-joining them.
struct PathSegment {
  std::size_t begin = 0;
  std::string_view text;
};

std::vector<PathSegment> SplitPath(std::string_view path) {
  // "/a/b" -> "a", "b"; "/" -> ""; "/a/" -> "a", "".
  std::vector<PathSegment> segments;
  std::size_t begin = 1;
  while (true) {
    const std::size_t slash = path.find('/', begin);
    const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    segments.push_back({begin, path.substr(begin, end - begin)});
    if (slash == std::string_view::npos) break;
    begin = slash + 1;
  }
  return segments;
}

}  // namespace

std::string_view PathParams::Get(std::string_view name) const {
  for (const auto& [key, value] : values_) {
    if (key == name) return value;
  }
  return {};
}

void PathParams::Set(std::string_view name, std::string_view value) {
  values_.emplace_back(name, value);
}

void Router::Add(Route route) {
  routes_.push_back(CompiledRoute{.method = std::move(route.method),
                                  .pattern = route.pattern,
                                  .segments = Compile(route.pattern),
                                  .handler = std::move(route.handler)});
}

std::vector<std::pair<std::string, std::string>> Router::Routes() const {
  std::vector<std::pair<std::string, std::string>> routes;
  for (const CompiledRoute& route : routes_) routes.emplace_back(route.method, route.pattern);
  return routes;
}

void Router::Add(std::vector<Route> routes) {
  for (Route& route : routes) Add(std::move(route));
}

std::vector<Router::Segment> Router::Compile(std::string_view pattern) {
  if (pattern.starts_with('/')) pattern.remove_prefix(1);
  std::vector<Segment> segments;
  bool have_rest = false;
  std::size_t begin = 0;
  while (true) {
    const std::size_t slash = pattern.find('/', begin);
    const std::string_view text = pattern.substr(
        begin, slash == std::string_view::npos ? std::string_view::npos : slash - begin);
    Segment segment{.kind = Segment::Kind::kLiteral, .text = std::string(text)};
    if (text.size() >= 2 && text.front() == '{' && text.back() == '}') {
      std::string_view name = text.substr(1, text.size() - 2);
      segment.kind = Segment::Kind::kParam;
      if (name.ends_with("...")) {
        name.remove_suffix(3);
        if (!have_rest) {
          segment.kind = Segment::Kind::kRest;
          have_rest = true;
        }
      }
      segment.text = std::string(name);
    }
    segments.push_back(std::move(segment));
    if (slash == std::string_view::npos) break;
    begin = slash + 1;
  }
  return segments;
}

bool Router::Match(const std::vector<Segment>& segments, std::string_view path,
                   PathParams& params) {
  if (!path.starts_with('/')) return false;
  const std::vector<PathSegment> parts = SplitPath(path);

  const auto rest = std::find_if(segments.begin(), segments.end(), [](const Segment& segment) {
    return segment.kind == Segment::Kind::kRest;
  });
  const std::size_t prefix = static_cast<std::size_t>(rest - segments.begin());
  const bool has_rest = rest != segments.end();
  const std::size_t suffix = has_rest ? segments.size() - prefix - 1 : 0;
  if (has_rest ? parts.size() < segments.size() : parts.size() != segments.size()) return false;

  // Segment i of the pattern against path part j.
  auto match_one = [&params](const Segment& segment, std::string_view part) {
    if (segment.kind == Segment::Kind::kLiteral) return segment.text == part;
    if (part.empty()) return false;
    params.Set(segment.text, part);
    return true;
  };
  for (std::size_t i = 0; i < prefix; ++i) {
    if (!match_one(segments[i], parts[i].text)) return false;
  }
  if (!has_rest) return true;
  for (std::size_t i = 0; i < suffix; ++i) {
    if (!match_one(segments[prefix + 1 + i], parts[parts.size() - suffix + i].text)) return false;
  }
  const PathSegment& first = parts[prefix];
  const PathSegment& last = parts[parts.size() - suffix - 1];
  const std::string_view captured =
      path.substr(first.begin, last.begin + last.text.size() - first.begin);
  if (captured.empty()) return false;
  params.Set(rest->text, captured);
  return true;
}

net::HttpResponse Router::Dispatch(const net::HttpRequest& request) const {
  // Requests built by hand (tests, internal callers) may carry only the target.
  std::string_view path = request.path;
  if (path.empty()) path = std::string_view(request.target).substr(0, request.target.find('?'));

  std::vector<std::string_view> allowed;
  for (const CompiledRoute& route : routes_) {
    PathParams params;
    if (!Match(route.segments, path, params)) continue;
    if (route.method == request.method) return route.handler(request, params);
    if (std::find(allowed.begin(), allowed.end(), route.method) == allowed.end()) {
      allowed.push_back(route.method);
    }
  }
  if (allowed.empty()) {
    return ErrorResponse(404, "not_found", "no such resource: " + std::string(path));
  }
  std::sort(allowed.begin(), allowed.end());
  std::string allow;
  for (std::string_view method : allowed) {
    if (!allow.empty()) allow += ", ";
    allow += method;
  }
  net::HttpResponse response = ErrorResponse(405, "method_not_allowed",
                                             request.method + " is not allowed here; use " + allow);
  response.headers.emplace_back("Allow", std::move(allow));
  return response;
}

}  // namespace streamgate::admin
