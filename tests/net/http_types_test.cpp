#include "net/http_types.hpp"

#include <gtest/gtest.h>

namespace streamgate::net {
namespace {

TEST(HttpRequestTest, HeaderLookupIgnoresCaseAndReturnsFirst) {
  HttpRequest request;
  request.headers = {{"Content-Type", "text/plain"}, {"X-Dup", "one"}, {"x-dup", "two"}};
  EXPECT_EQ(request.Header("content-type"), "text/plain");
  EXPECT_EQ(request.Header("CONTENT-TYPE"), "text/plain");
  EXPECT_EQ(request.Header("X-DUP"), "one");
  EXPECT_EQ(request.Header("missing"), std::nullopt);
  EXPECT_EQ(request.Header("Content-Typ"), std::nullopt);
}

TEST(HttpRequestTest, QueryParamFindsValuesFlagsAndMisses) {
  HttpRequest request;
  request.query = "a=1&flag&b=two%20x&empty=&a=again";
  EXPECT_EQ(request.QueryParam("a"), "1");
  EXPECT_EQ(request.QueryParam("b"), "two%20x");  // no percent-decoding
  EXPECT_EQ(request.QueryParam("flag"), "");
  EXPECT_EQ(request.QueryParam("empty"), "");
  EXPECT_EQ(request.QueryParam("missing"), std::nullopt);
  EXPECT_EQ(request.QueryParam("fla"), std::nullopt);
}

TEST(HttpRequestTest, QueryParamOnEmptyQuery) {
  HttpRequest request;
  EXPECT_EQ(request.QueryParam("a"), std::nullopt);
  request.query = "&&";
  EXPECT_EQ(request.QueryParam("a"), std::nullopt);
}

}  // namespace
}  // namespace streamgate::net
