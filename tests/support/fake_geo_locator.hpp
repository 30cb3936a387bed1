// A GeoLocator answering from a table the test fills in, until the MaxMind one lands.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "streamgate/geo/geo_locator.hpp"

namespace streamgate::testing {

class FakeGeoLocator final : public geo::GeoLocator {
 public:
  // Fill before sharing the locator with other threads; Lookup only reads.
  void Set(std::string ip, std::string country, std::string continent,
           std::optional<double> latitude = std::nullopt,
           std::optional<double> longitude = std::nullopt) {
    table_[std::move(ip)] =
        geo::GeoLocation{std::move(country), std::move(continent), latitude, longitude};
  }

  std::optional<geo::GeoLocation> Lookup(std::string_view ip) const override {
    auto it = table_.find(ip);
    if (it == table_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, geo::GeoLocation, std::less<>> table_;
};

}  // namespace streamgate::testing
