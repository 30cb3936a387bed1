#include <gtest/gtest.h>

#include <optional>
#include <string_view>

#include "streamgate/geo/geo_locator.hpp"

namespace streamgate::geo {
namespace {

std::optional<std::string_view> ContinentOf(std::string_view iso) {
  const std::optional<CountryInfo> info = LookupCountry(iso);
  if (!info) return std::nullopt;
  return info->continent;
}

TEST(LookupCountryTest, AssignsContinentsLikeGeoIpData) {
  EXPECT_EQ(ContinentOf("US"), "NA");
  EXPECT_EQ(ContinentOf("IE"), "EU");
  EXPECT_EQ(ContinentOf("JP"), "AS");
  EXPECT_EQ(ContinentOf("BR"), "SA");
  EXPECT_EQ(ContinentOf("ZA"), "AF");
  EXPECT_EQ(ContinentOf("AQ"), "AN");
  // The ones easy to get wrong.
  EXPECT_EQ(ContinentOf("RU"), "EU");
  EXPECT_EQ(ContinentOf("TR"), "AS");
  EXPECT_EQ(ContinentOf("EG"), "AF");
  EXPECT_EQ(ContinentOf("MX"), "NA");
  EXPECT_EQ(ContinentOf("PA"), "NA");
  EXPECT_EQ(ContinentOf("AU"), "OC");
  EXPECT_EQ(ContinentOf("NZ"), "OC");
  EXPECT_EQ(ContinentOf("GL"), "NA");
  EXPECT_EQ(ContinentOf("KZ"), "AS");
  EXPECT_EQ(ContinentOf("GE"), "AS");
  EXPECT_EQ(ContinentOf("CY"), "EU");
  EXPECT_EQ(ContinentOf("GF"), "SA");
  EXPECT_EQ(ContinentOf("TT"), "NA");
  EXPECT_EQ(ContinentOf("RE"), "AF");
}

TEST(LookupCountryTest, CoversEveryCodeInTheShippedDatabase) {
  // Every country_code in the geo-whois-asn-country build that scripts/fetch-geoip pins
  // (found by walking its search tree), including the registries' XK and withdrawn AN.
  constexpr std::string_view kCodes =
      "AD AE AF AG AI AL AM AN AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO "
      "BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK "
      "DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR "
      "GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM "
      "KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP "
      "MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL "
      "PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST "
      "SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG "
      "VI VN VU WF WS XK YE YT ZA ZM ZW";
  int count = 0;
  for (std::size_t i = 0; i < kCodes.size(); i += 3, ++count) {
    EXPECT_TRUE(LookupCountry(kCodes.substr(i, 2)).has_value()) << kCodes.substr(i, 2);
  }
  EXPECT_EQ(count, 251);
}

TEST(LookupCountryTest, IsCaseInsensitive) {
  const std::optional<CountryInfo> upper = LookupCountry("DE");
  const std::optional<CountryInfo> lower = LookupCountry("de");
  const std::optional<CountryInfo> mixed = LookupCountry("dE");
  ASSERT_TRUE(upper && lower && mixed);
  EXPECT_EQ(lower->continent, upper->continent);
  EXPECT_EQ(lower->latitude, upper->latitude);
  EXPECT_EQ(mixed->longitude, upper->longitude);
}

TEST(LookupCountryTest, PointsLieInTheCountry) {
  // Rough boxes: catches swapped or sign-flipped coordinates.
  struct Box {
    std::string_view iso;
    double min_lat, max_lat, min_lon, max_lon;
  };
  for (const Box& box :
       {Box{"US", 25, 49, -125, -67}, Box{"GB", 50, 59, -8, 2}, Box{"AU", -44, -10, 113, 154},
        Box{"BR", -34, 5, -74, -34}, Box{"JP", 30, 46, 129, 146}, Box{"ZA", -35, -22, 16, 33},
        Box{"NZ", -47, -34, 166, 179}, Box{"AR", -55, -21, -74, -53}, Box{"RU", 41, 82, 19, 180},
        Box{"IN", 8, 36, 68, 97}}) {
    const std::optional<CountryInfo> info = LookupCountry(box.iso);
    ASSERT_TRUE(info.has_value()) << box.iso;
    EXPECT_GE(info->latitude, box.min_lat) << box.iso;
    EXPECT_LE(info->latitude, box.max_lat) << box.iso;
    EXPECT_GE(info->longitude, box.min_lon) << box.iso;
    EXPECT_LE(info->longitude, box.max_lon) << box.iso;
  }
}

TEST(LookupCountryTest, RussiaIsNearerFrankfurtThanTokyo) {
  // Why RU's point sits in European Russia: most of its clients are closer to Europe.
  const std::optional<CountryInfo> ru = LookupCountry("RU");
  ASSERT_TRUE(ru.has_value());
  EXPECT_LT(GreatCircleKm(ru->latitude, ru->longitude, 50.11, 8.68),
            GreatCircleKm(ru->latitude, ru->longitude, 35.68, 139.69));
}

TEST(LookupCountryTest, UnknownOrMalformedCodesAreNotFound) {
  for (std::string_view code : {"", "U", "USA", "ZZ", "QQ", "AA", "EU", "UK", "1A", "A1", "U ",
                                "@A", "[A", "`a", "{a", "\xc3\x84"}) {
    EXPECT_FALSE(LookupCountry(code).has_value()) << "'" << code << "'";
  }
}

}  // namespace
}  // namespace streamgate::geo
