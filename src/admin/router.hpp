// A tiny HTTP router for the admin API: each feature contributes a table of routes (method +
// path pattern + handler) and the router picks the first route that matches both.
//
// Patterns are '/'-separated segments:
//   literal   "regions"  matches exactly that segment;
//   "{name}"             matches one non-empty segment;
//   "{name...}"          matches one or more segments including the '/' between them, so ids that
//                        contain '/' route ("/api/v1/regions/{id...}/activate" captures "eu/west"
//                        from "/api/v1/regions/eu/west/activate"). Only the first one in a
//                        pattern is greedy; later ones match a single segment.
// Every string is a valid pattern, so adding routes cannot fail. No percent-decoding is done.
//
// Routes are tried in the order added, so add literal routes ("/regions/primary") before
// patterns that would also match them ("/regions/{id...}"). A path that some route matches with
// another method gets 405 with an Allow header; a path no route matches gets 404.
//
// Thread-safe once built: Dispatch only reads the table.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http_types.hpp"

namespace streamgate::admin {

// Values captured by the "{...}" segments of the matched pattern. Views into the request path;
// valid during the handler call.
class PathParams {
 public:
  // The captured text, or "" when the pattern has no such parameter.
  [[nodiscard]] std::string_view Get(std::string_view name) const;
  void Set(std::string_view name, std::string_view value);

 private:
  std::vector<std::pair<std::string_view, std::string_view>> values_;
};

using RouteHandler = std::function<net::HttpResponse(const net::HttpRequest&, const PathParams&)>;

struct Route {
  std::string method;   // "GET", "POST", ... (case-sensitive, as HTTP methods are)
  std::string pattern;  // "/api/v1/regions/{id...}"
  RouteHandler handler;
};

class Router {
 public:
  void Add(Route route);
  void Add(std::vector<Route> routes);

  // Runs the first matching route, or answers 404 / 405 itself. Exceptions from handlers pass
  // through; the caller (AdminApi::Handle) turns them into 500.
  [[nodiscard]] net::HttpResponse Dispatch(const net::HttpRequest& request) const;
  // (method, pattern) of every route, in the order added: what the API serves, for its docs.
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> Routes() const;

 private:
  struct Segment {
    enum class Kind { kLiteral, kParam, kRest };
    Kind kind = Kind::kLiteral;
    std::string text;  // the literal, or the parameter name
  };
  struct CompiledRoute {
    std::string method;
    std::string pattern;
    std::vector<Segment> segments;
    RouteHandler handler;
  };

  [[nodiscard]] static std::vector<Segment> Compile(std::string_view pattern);
  [[nodiscard]] static bool Match(const std::vector<Segment>& segments, std::string_view path,
                                  PathParams& params);

  std::vector<CompiledRoute> routes_;
};

}  // namespace streamgate::admin
