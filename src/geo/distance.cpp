// Great-circle distance between two points given in degrees (haversine).
#include <algorithm>
#include <cmath>
#include <numbers>

#include "streamgate/geo/geo_locator.hpp"

namespace streamgate::geo {

double GreatCircleKm(double lat1, double lon1, double lat2, double lon2) {
  // Mean Earth radius (IUGG); the sphere is within 0.5% of the ellipsoid, plenty for ranking.
  constexpr double kEarthRadiusKm = 6371.0088;
  constexpr double kRadiansPerDegree = std::numbers::pi / 180.0;
  const double phi1 = lat1 * kRadiansPerDegree;
  const double phi2 = lat2 * kRadiansPerDegree;
  const double sin_half_dphi = std::sin((lat2 - lat1) * kRadiansPerDegree / 2);
  const double sin_half_dlambda = std::sin((lon2 - lon1) * kRadiansPerDegree / 2);
  const double a = sin_half_dphi * sin_half_dphi +
                   std::cos(phi1) * std::cos(phi2) * sin_half_dlambda * sin_half_dlambda;
  // Rounding can push `a` a hair past 1 for antipodal points, where asin would return NaN.
  return 2 * kEarthRadiusKm * std::asin(std::sqrt(std::clamp(a, 0.0, 1.0)));
}

}  // namespace streamgate::geo
