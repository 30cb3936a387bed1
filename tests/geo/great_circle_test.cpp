#include <gtest/gtest.h>

#include <cmath>

#include "streamgate/geo/geo_locator.hpp"

namespace streamgate::geo {
namespace {

constexpr double kLondonLat = 51.5074, kLondonLon = -0.1278;
constexpr double kNewYorkLat = 40.7128, kNewYorkLon = -74.0060;
constexpr double kSydneyLat = -33.8688, kSydneyLon = 151.2093;
constexpr double kTokyoLat = 35.6762, kTokyoLon = 139.6503;

TEST(GreatCircleKmTest, KnownCityPairs) {
  // Published great-circle distances; the sphere is good to well under 1%.
  EXPECT_NEAR(GreatCircleKm(kLondonLat, kLondonLon, kNewYorkLat, kNewYorkLon), 5570, 55.7);
  EXPECT_NEAR(GreatCircleKm(kSydneyLat, kSydneyLon, kTokyoLat, kTokyoLon), 7820, 78.2);
  EXPECT_NEAR(GreatCircleKm(kLondonLat, kLondonLon, kSydneyLat, kSydneyLon), 16990, 170);
}

TEST(GreatCircleKmTest, IsSymmetricAndZeroForOnePoint) {
  EXPECT_DOUBLE_EQ(GreatCircleKm(kLondonLat, kLondonLon, kTokyoLat, kTokyoLon),
                   GreatCircleKm(kTokyoLat, kTokyoLon, kLondonLat, kLondonLon));
  EXPECT_EQ(GreatCircleKm(kTokyoLat, kTokyoLon, kTokyoLat, kTokyoLon), 0.0);
}

TEST(GreatCircleKmTest, UsesTheMeanEarthRadius) {
  const double half_circumference = M_PI * 6371.0088;
  EXPECT_NEAR(GreatCircleKm(0, 0, 0, 180), half_circumference, 1e-6);
  EXPECT_NEAR(GreatCircleKm(90, 0, -90, 0), half_circumference, 1e-6);
  EXPECT_NEAR(GreatCircleKm(0, 0, 0, 90), half_circumference / 2, 1e-6);
}

TEST(GreatCircleKmTest, CrossesTheAntimeridian) {
  // Fiji to Samoa across 180 degrees: about 1150 km, not most of the way round the Earth.
  const double km = GreatCircleKm(-18.0, 178.0, -13.8, -172.1);
  EXPECT_GT(km, 1000);
  EXPECT_LT(km, 1300);
}

TEST(GreatCircleKmTest, NearlyAntipodalPointsStayFinite) {
  const double km = GreatCircleKm(10.0, 20.0, -10.0, -160.0 + 1e-12);
  EXPECT_TRUE(std::isfinite(km));
  EXPECT_NEAR(km, M_PI * 6371.0088, 1e-3);
}

}  // namespace
}  // namespace streamgate::geo
