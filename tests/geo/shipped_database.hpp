// The GeoIP database that scripts/fetch-geoip installs (scripts/bootstrap runs it), for tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "streamgate/geo/geo_locator.hpp"

namespace streamgate::geo::testing {

// From the source tree (STREAMGATE_SOURCE_DIR is set by tests/CMakeLists.txt), not the working
// directory or __FILE__, which is relative under ccache's base_dir.
inline std::filesystem::path ShippedDatabasePath() {
  return std::filesystem::path(STREAMGATE_SOURCE_DIR) / "data" / "geoip" /
         "geo-whois-asn-country.mmdb";
}

// The bootstrap installs the database, so its absence is a broken set-up, reported as a failure
// that says how to fix it rather than a silent skip. Call with ASSERT_NO_FATAL_FAILURE.
inline void OpenShippedDatabase(std::shared_ptr<const GeoLocator>& locator) {
  const std::filesystem::path path = ShippedDatabasePath();
  ASSERT_TRUE(std::filesystem::exists(path))
      << path << " is missing: run scripts/fetch-geoip (or scripts/bootstrap)";
  auto opened = OpenMaxMindDatabase(path);
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  locator = *opened;
}

}  // namespace streamgate::geo::testing
