#include "streamgate/common/units.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace streamgate {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

// Expects `text` to be rejected with kInvalidArgument and a message containing `substring`.
void ExpectDurationError(const std::string& text, const std::string& substring) {
  const Result<nanoseconds> result = ParseDuration(text);
  ASSERT_FALSE(result.has_value()) << text << " parsed as " << result->count() << "ns";
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument) << text;
  EXPECT_THAT(result.error().message(), HasSubstr(substring)) << text;
}

void ExpectSizeError(const std::string& text, const std::string& substring) {
  const Result<std::uint64_t> result = ParseSize(text);
  ASSERT_FALSE(result.has_value()) << text << " parsed as " << *result;
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument) << text;
  EXPECT_THAT(result.error().message(), HasSubstr(substring)) << text;
}

TEST(ParseDurationTest, AcceptsEverySingleUnit) {
  EXPECT_EQ(ParseDuration("7ns"), nanoseconds(7));
  EXPECT_EQ(ParseDuration("250us"), microseconds(250));
  EXPECT_EQ(ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(ParseDuration("30s"), seconds(30));
  EXPECT_EQ(ParseDuration("5m"), minutes(5));
  EXPECT_EQ(ParseDuration("24h"), hours(24));
  EXPECT_EQ(ParseDuration("2d"), hours(48));
}

TEST(ParseDurationTest, AcceptsZero) { EXPECT_EQ(ParseDuration("0s"), nanoseconds(0)); }

TEST(ParseDurationTest, AcceptsCompoundLargestFirst) {
  EXPECT_EQ(ParseDuration("1h30m"), minutes(90));
  EXPECT_EQ(
      ParseDuration("1d2h3m4s5ms6us7ns"),
      hours(26) + minutes(3) + seconds(4) + milliseconds(5) + microseconds(6) + nanoseconds(7));
  EXPECT_EQ(ParseDuration("1m500ms"), milliseconds(60'500));
}

TEST(ParseDurationTest, DistinguishesMinutesFromMilliseconds) {
  EXPECT_EQ(ParseDuration("1m"), seconds(60));
  EXPECT_EQ(ParseDuration("1ms"), milliseconds(1));
}

TEST(ParseDurationTest, AcceptsTheLargestRepresentableValue) {
  EXPECT_EQ(ParseDuration("9223372036854775807ns"), nanoseconds::max());
}

TEST(ParseDurationTest, RejectsEmpty) { ExpectDurationError("", "empty"); }

TEST(ParseDurationTest, RejectsBareNumber) { ExpectDurationError("10", "missing unit"); }

TEST(ParseDurationTest, RejectsSigns) {
  ExpectDurationError("-5s", "sign");
  ExpectDurationError("+5s", "sign");
}

TEST(ParseDurationTest, RejectsSpacesAndUnknownUnits) {
  ExpectDurationError("5 parsecs", "spaces");
  ExpectDurationError("5parsecs", "unknown unit 'parsecs'");
  ExpectDurationError("5S", "unknown unit 'S'");
  ExpectDurationError(" 5s", "spaces");
}

TEST(ParseDurationTest, RejectsMalformedSequences) {
  ExpectDurationError("1h30", "missing unit");
  ExpectDurationError("30m1h", "largest to smallest");
  ExpectDurationError("1m1m", "largest to smallest");
  ExpectDurationError("s", "expected a number");
  ExpectDurationError("1.5s", "fractions");
  ExpectDurationError("5s!", "unexpected character '!'");
}

TEST(ParseDurationTest, RejectsOverflow) {
  ExpectDurationError("9223372036854775808ns", "out of range");
  ExpectDurationError("106752d", "out of range");  // just over 2^63 ns
  ExpectDurationError("106751d23h47m16s854ms775us808ns", "out of range");
  ExpectDurationError("99999999999999999999999s", "too large");
}

TEST(ParseDurationTest, MessageNamesTheInput) {
  const Result<nanoseconds> result = ParseDuration("5parsecs");
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().message(),
            "invalid duration '5parsecs': unknown unit 'parsecs' (expected ns, us, ms, s, m, h or "
            "d)");
}

TEST(FormatDurationTest, UsesTheLargestExactUnit) {
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(FormatDuration(seconds(30)), "30s");
  EXPECT_EQ(FormatDuration(minutes(90)), "90m");
  EXPECT_EQ(FormatDuration(hours(48)), "2d");
  EXPECT_EQ(FormatDuration(hours(25)), "25h");
  EXPECT_EQ(FormatDuration(microseconds(3)), "3us");
  EXPECT_EQ(FormatDuration(nanoseconds(1'000'001)), "1000001ns");
  EXPECT_EQ(FormatDuration(nanoseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(seconds(-5)), "-5s");
  EXPECT_EQ(FormatDuration(nanoseconds::min()), "-9223372036854775808ns");
}

TEST(FormatDurationTest, RoundTripsThroughParse) {
  for (const nanoseconds d : {nanoseconds(1), nanoseconds(1'500), nanoseconds(seconds(45)),
                              nanoseconds(hours(36)), nanoseconds::max()}) {
    EXPECT_EQ(ParseDuration(FormatDuration(d)), d) << FormatDuration(d);
  }
}

TEST(ParseSizeTest, AcceptsPlainBytes) {
  EXPECT_EQ(ParseSize("512"), 512u);
  EXPECT_EQ(ParseSize("512B"), 512u);
  EXPECT_EQ(ParseSize("0"), 0u);
}

TEST(ParseSizeTest, AcceptsDecimalAndBinaryUnits) {
  EXPECT_EQ(ParseSize("1KB"), 1'000u);
  EXPECT_EQ(ParseSize("10MB"), 10'000'000u);
  EXPECT_EQ(ParseSize("2GB"), 2'000'000'000u);
  EXPECT_EQ(ParseSize("3TB"), 3'000'000'000'000u);
  EXPECT_EQ(ParseSize("1KiB"), 1'024u);
  EXPECT_EQ(ParseSize("64KiB"), 65'536u);
  EXPECT_EQ(ParseSize("1MiB"), 1'048'576u);
  EXPECT_EQ(ParseSize("1GiB"), 1'073'741'824u);
  EXPECT_EQ(ParseSize("1TiB"), 1'099'511'627'776u);
}

TEST(ParseSizeTest, AcceptsTheLargestValue) {
  EXPECT_EQ(ParseSize("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(ParseSize("16777215TiB"), 16'777'215ULL << 40);
}

TEST(ParseSizeTest, RejectsMalformedSizes) {
  ExpectSizeError("", "empty");
  ExpectSizeError("KiB", "expected a number");
  ExpectSizeError("-1KiB", "sign");
  ExpectSizeError("1 KiB", "spaces");
  ExpectSizeError("1kib", "unknown unit 'kib'");
  ExpectSizeError("1XB", "unknown unit 'XB'");
  ExpectSizeError("1.5KiB", "fractions");
}

TEST(ParseSizeTest, RejectsOverflow) {
  ExpectSizeError("18446744073709551616", "too large");
  ExpectSizeError("16777216TiB", "out of range");
  ExpectSizeError("18446744073709552KB", "out of range");
}

}  // namespace
}  // namespace streamgate
