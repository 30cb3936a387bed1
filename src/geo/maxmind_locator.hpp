// Internals of the MaxMind locator that tests reach into.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>

#include "streamgate/common/error.hpp"
#include "streamgate/geo/geo_locator.hpp"

namespace streamgate::geo::internal {

// How many distinct records OpenMaxMindDatabase decodes up front: all of a country database's,
// none of a city database's.
inline constexpr std::size_t kMaxCachedRecords = std::size_t{1} << 16;

// OpenMaxMindDatabase with the up-front decoding capped at `max_cached_records` (0: decode on
// every lookup), so tests cover both paths.
[[nodiscard]] Result<std::shared_ptr<const GeoLocator>> OpenMaxMindDatabase(
    const std::filesystem::path& path, std::size_t max_cached_records);

}  // namespace streamgate::geo::internal
