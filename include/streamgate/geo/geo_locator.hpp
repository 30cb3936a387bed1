// Where a client is: country and continent from its IP address, with approximate coordinates.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "streamgate/common/error.hpp"

namespace streamgate::geo {

struct GeoLocation {
  std::string country;  // ISO 3166-1 alpha-2, upper case, e.g. "IE"
  // "AF", "AN", "AS", "EU", "NA", "OC", "SA"; empty only when neither the database nor
  // LookupCountry knows the country.
  std::string continent;
  std::optional<double> latitude;   // degrees; the country's point from LookupCountry when the
  std::optional<double> longitude;  // database has no finer position

  friend bool operator==(const GeoLocation&, const GeoLocation&) = default;
};

class GeoLocator {
 public:
  virtual ~GeoLocator() = default;
  // nullopt when the address is not valid IPv4/IPv6 text, is not global unicast (private,
  // loopback, link-local, CGNAT, multicast, documentation ranges: these name no place), or is
  // not in the database. ::ffff:a.b.c.d is looked up as a.b.c.d. Thread-safe.
  [[nodiscard]] virtual std::optional<GeoLocation> Lookup(std::string_view ip) const = 0;
};

// Opens a MaxMind-format (.mmdb) database with libmaxminddb (memory-mapped). Reads the
// ip-location-db layout (country_code) and MaxMind's (country.iso_code, continent.code,
// location.latitude/longitude). Errors: kNotFound (no such file), kInvalidArgument (not a
// regular file), kIo (unreadable), kCorrupted (not a MaxMind DB file).
[[nodiscard]] Result<std::shared_ptr<const GeoLocator>> OpenMaxMindDatabase(
    const std::filesystem::path& path);

// Continent code and a representative point of a country (ISO alpha-2, either case; also the
// XK and legacy AN codes that registries use), from a table built into StreamGate. The point is
// the centroid, moved towards the population for a few large countries (RU, CA, AU, CN, BR, ID).
struct CountryInfo {
  std::string_view continent;
  double latitude;
  double longitude;
};
[[nodiscard]] std::optional<CountryInfo> LookupCountry(std::string_view iso_code);

// Great-circle distance in kilometres (haversine, mean Earth radius).
[[nodiscard]] double GreatCircleKm(double lat1, double lon1, double lat2, double lon2);

}  // namespace streamgate::geo
