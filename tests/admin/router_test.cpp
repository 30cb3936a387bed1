#include "admin/router.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "admin/json_http.hpp"

namespace streamgate::admin {
namespace {

net::HttpRequest Request(std::string method, std::string path) {
  net::HttpRequest request;
  request.method = std::move(method);
  request.target = path;
  request.path = std::move(path);
  return request;
}

// A handler that reports which route ran and what it captured.
RouteHandler Echo(std::string route_name) {
  return [route_name](const net::HttpRequest&, const PathParams& params) {
    net::HttpResponse response;
    response.content_type = "text/plain";
    response.body = route_name + " id=" + std::string(params.Get("id")) +
                    " rest=" + std::string(params.Get("rest"));
    return response;
  };
}

std::string AllowHeader(const net::HttpResponse& response) {
  for (const auto& [name, value] : response.headers) {
    if (name == "Allow") return value;
  }
  return "<none>";
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    router_.Add({
        {"GET", "/things", Echo("list")},
        {"POST", "/things", Echo("create")},
        {"GET", "/things/special", Echo("special")},
        {"POST", "/things/{id}/poke", Echo("poke")},
        {"GET", "/things/{id}", Echo("get")},
        {"DELETE", "/things/{id}", Echo("delete")},
        {"GET", "/files/{rest...}/meta", Echo("file-meta")},
        {"GET", "/files/{rest...}", Echo("file")},
    });
  }
  [[nodiscard]] net::HttpResponse Dispatch(std::string method, std::string path) const {
    return router_.Dispatch(Request(std::move(method), std::move(path)));
  }
  Router router_;
};

TEST_F(RouterTest, LiteralRoutes) {
  EXPECT_EQ(Dispatch("GET", "/things").body, "list id= rest=");
  EXPECT_EQ(Dispatch("POST", "/things").body, "create id= rest=");
}

TEST_F(RouterTest, EarlierLiteralWinsOverLaterPattern) {
  EXPECT_EQ(Dispatch("GET", "/things/special").body, "special id= rest=");
  EXPECT_EQ(Dispatch("GET", "/things/other").body, "get id=other rest=");
}

TEST_F(RouterTest, ParamsCaptureOneSegment) {
  EXPECT_EQ(Dispatch("POST", "/things/abc/poke").body, "poke id=abc rest=");
  EXPECT_EQ(Dispatch("DELETE", "/things/x.y-z").body, "delete id=x.y-z rest=");
  EXPECT_EQ(Dispatch("GET", "/things/a/b").status, 404);
  EXPECT_EQ(Dispatch("GET", "/things/").status, 404);  // empty segment is not an id
}

TEST_F(RouterTest, RestParamCapturesSlashes) {
  EXPECT_EQ(Dispatch("GET", "/files/a").body, "file id= rest=a");
  EXPECT_EQ(Dispatch("GET", "/files/a/b/c").body, "file id= rest=a/b/c");
  EXPECT_EQ(Dispatch("GET", "/files/a/b/meta").body, "file-meta id= rest=a/b");
  EXPECT_EQ(Dispatch("GET", "/files/a//b/").body, "file id= rest=a//b/");
  EXPECT_EQ(Dispatch("GET", "/files/").status, 404);
  EXPECT_EQ(Dispatch("GET", "/files").status, 404);
}

TEST_F(RouterTest, UnknownPathIs404Json) {
  for (const char* path : {"/", "/nothing", "/things/x/poke/more", "", "things", "//things"}) {
    const net::HttpResponse response = Dispatch("GET", path);
    EXPECT_EQ(response.status, 404) << path;
    EXPECT_EQ(response.content_type, "application/json");
    const auto body = nlohmann::json::parse(response.body);
    EXPECT_EQ(body["code"], "not_found");
    EXPECT_TRUE(body["error"].is_string());
  }
}

TEST_F(RouterTest, WrongMethodIs405WithAllow) {
  net::HttpResponse response = Dispatch("PUT", "/things");
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(AllowHeader(response), "GET, POST");
  EXPECT_EQ(nlohmann::json::parse(response.body)["code"], "method_not_allowed");

  // "special" is also a valid {id}: the Allow header lists every method that path accepts.
  EXPECT_EQ(AllowHeader(Dispatch("POST", "/things/special")), "DELETE, GET");
  EXPECT_EQ(AllowHeader(Dispatch("GET", "/things/x/poke")), "POST");
  // Methods are case-sensitive.
  EXPECT_EQ(Dispatch("get", "/things").status, 405);
}

TEST_F(RouterTest, FallsBackToTargetWhenPathIsEmpty) {
  net::HttpRequest request;
  request.method = "GET";
  request.target = "/things/q?x=1";
  EXPECT_EQ(router_.Dispatch(request).body, "get id=q rest=");
}

TEST(JsonHttpTest, StatusForErrorCodes) {
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kFailedPrecondition), 409);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnavailable), 500);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInternal), 500);
}

TEST(JsonHttpTest, ErrorResponseCarriesCodeAndMessage) {
  const net::HttpResponse response = ErrorResponse(Error(ErrorCode::kAlreadyExists, "dup \"x\""));
  EXPECT_EQ(response.status, 409);
  EXPECT_EQ(response.body, R"({"code":"already_exists","error":"dup \"x\""})");
}

TEST(JsonHttpTest, JsonResponseReplacesInvalidUtf8) {
  const net::HttpResponse response = JsonResponse(200, {{"name", std::string("a\xff"
                                                                             "b")}});
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body,
            "{\"name\":\"a\xEF\xBF\xBD"
            "b\"}");
}

TEST(JsonHttpTest, ParseJsonObject) {
  EXPECT_TRUE(ParseJsonObject(R"({"a":1})").has_value());
  for (const char* bad : {"", "{", "[1]", "\"s\"", "1", "null", "{\"a\":}", "{} x", "\xff"}) {
    auto parsed = ParseJsonObject(bad);
    ASSERT_FALSE(parsed.has_value()) << bad;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
  }
  // Deep nesting is an error or a value, never a crash.
  EXPECT_FALSE(ParseJsonObject(std::string(100000, '[')).has_value());
}

TEST(JsonHttpTest, Rfc3339) {
  using namespace std::chrono_literals;
  EXPECT_EQ(FormatRfc3339(WallTime(1'800'000'000s)), "2027-01-15T08:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(WallTime(1'800'000'000s + 1501ms + 999us)), "2027-01-15T08:00:01.501Z");
  EXPECT_EQ(FormatRfc3339(WallTime(0s)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(WallTime(951'782'400s)), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(WallTime(-1ms)), "1969-12-31T23:59:59.999Z");
  EXPECT_TRUE(Rfc3339OrNull(std::nullopt).is_null());
}

TEST(JsonObjectReaderTest, ReadsTypedFields) {
  const auto object = nlohmann::json::parse(R"({"s":"x","i":-5,"b":true,"u":2147483647})");
  std::string s;
  int i = 0;
  int u = 0;
  bool b = false;
  int absent = 7;
  JsonObjectReader in(object);
  in.String("s", s);
  in.Int("i", i);
  in.Int("u", u);
  in.Bool("b", b);
  in.Int("absent", absent, JsonObjectReader::kOptional);
  ASSERT_TRUE(in.Finish().has_value());
  EXPECT_EQ(s, "x");
  EXPECT_EQ(i, -5);
  EXPECT_EQ(u, 2147483647);
  EXPECT_TRUE(b);
  EXPECT_EQ(absent, 7);
}

// The message of the error Finish() reports after reading `object` as {s: string, i: int,
// b: bool}, all required.
std::string ReadError(const char* text) {
  const auto object = nlohmann::json::parse(text);
  std::string s;
  int i = 0;
  bool b = false;
  JsonObjectReader in(object);
  in.String("s", s);
  in.Int("i", i);
  in.Bool("b", b);
  Status status = in.Finish();
  if (status) return "ok";
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  return status.error().message();
}

TEST(JsonObjectReaderTest, ReportsFirstProblem) {
  EXPECT_EQ(ReadError(R"({"s":"x","i":1,"b":false})"), "ok");
  EXPECT_EQ(ReadError(R"({"i":1,"b":false})"), "missing field 's'");
  EXPECT_EQ(ReadError(R"({"s":1,"i":1,"b":false})"), "field 's' must be a string");
  EXPECT_EQ(ReadError(R"({"s":"x","i":"1","b":false})"),
            "field 'i' must be an integer between -2147483648 and 2147483647");
  EXPECT_EQ(ReadError(R"({"s":"x","i":1.5,"b":false})").substr(0, 30),
            "field 'i' must be an integer b");
  EXPECT_EQ(ReadError(R"({"s":"x","i":2147483648,"b":false})").substr(0, 9), "field 'i'");
  EXPECT_EQ(ReadError(R"({"s":"x","i":-2147483649,"b":false})").substr(0, 9), "field 'i'");
  EXPECT_EQ(ReadError(R"({"s":"x","i":1,"b":0})"), "field 'b' must be true or false");
  EXPECT_EQ(ReadError(R"({"s":"x","i":1,"b":null})"), "field 'b' must be true or false");
  EXPECT_EQ(ReadError(R"({"s":"x","i":1,"b":true,"extra":1})"), "unknown field 'extra'");
  // Type errors come before unknown fields.
  EXPECT_EQ(ReadError(R"({"extra":1,"s":2,"i":1,"b":true})"), "field 's' must be a string");
}

}  // namespace
}  // namespace streamgate::admin
