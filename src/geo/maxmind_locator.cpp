// GeoLocator over a MaxMind-format (.mmdb) database, read with libmaxminddb.
//
// Two record layouts are understood, so both the shipped ip-location-db country database and a
// MaxMind GeoLite2/GeoIP2 Country or City database work:
//   ip-location-db:  {"country_code": "US"}  (city builds add top-level latitude/longitude)
//   MaxMind:         {"country": {"iso_code"}, "continent": {"code"},
//                     "location": {"latitude", "longitude"}, "registered_country": {...}}
// Whatever the record lacks (continent, coordinates) comes from the built-in country table.
#include "geo/maxmind_locator.hpp"

#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include "streamgate/geo/geo_locator.hpp"

namespace streamgate::geo {
namespace {

// The longest IPv6 text form, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", has 45 characters.
constexpr std::size_t kMaxAddressLength = 45;

// Paths to look up in a record, each nullptr-terminated for MMDB_aget_value, first match wins.
// MaxMind's registered_country comes last: anycast and satellite ranges have nothing better.
using Path = std::array<const char*, 3>;
constexpr std::array<Path, 3> kCountryPaths = {{
    {"country_code", nullptr, nullptr},
    {"country", "iso_code", nullptr},
    {"registered_country", "iso_code", nullptr},
}};
constexpr Path kContinentPath = {"continent", "code", nullptr};
constexpr std::array<Path, 2> kLatitudePaths = {{
    {"location", "latitude", nullptr},
    {"latitude", nullptr, nullptr},
}};
constexpr std::array<Path, 2> kLongitudePaths = {{
    {"location", "longitude", nullptr},
    {"longitude", nullptr, nullptr},
}};

[[nodiscard]] constexpr bool InPrefix(std::uint32_t address, std::uint32_t network, int length) {
  return ((address ^ network) >> (32 - length)) == 0;
}

[[nodiscard]] constexpr std::uint32_t V4(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                                         std::uint8_t d) {
  return (std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) | d;
}

// False for the special-purpose blocks that are not global unicast (IANA special-purpose
// registry): they name no place, and some databases still map them to a country (the shipped
// one puts 192.168.0.0/16 and 172.16.0.0/12 in AU), which would route LAN clients abroad.
[[nodiscard]] constexpr bool IsLocatableV4(std::uint32_t a) {
  return !(InPrefix(a, V4(0, 0, 0, 0), 8) ||        // "this network"
           InPrefix(a, V4(10, 0, 0, 0), 8) ||       // private
           InPrefix(a, V4(100, 64, 0, 0), 10) ||    // carrier-grade NAT
           InPrefix(a, V4(127, 0, 0, 0), 8) ||      // loopback
           InPrefix(a, V4(169, 254, 0, 0), 16) ||   // link-local
           InPrefix(a, V4(172, 16, 0, 0), 12) ||    // private
           InPrefix(a, V4(192, 0, 0, 0), 24) ||     // IETF protocol assignments
           InPrefix(a, V4(192, 0, 2, 0), 24) ||     // documentation
           InPrefix(a, V4(192, 168, 0, 0), 16) ||   // private
           InPrefix(a, V4(198, 18, 0, 0), 15) ||    // benchmarking
           InPrefix(a, V4(198, 51, 100, 0), 24) ||  // documentation
           InPrefix(a, V4(203, 0, 113, 0), 24) ||   // documentation
           InPrefix(a, V4(224, 0, 0, 0), 3));       // multicast, reserved, broadcast
}

// Only 2000::/3 is allocated as global unicast; that leaves out loopback, ULA (fc00::/7),
// link-local, multicast and NAT64. Inside it, the IETF and documentation blocks name no place.
[[nodiscard]] bool IsLocatableV6(const std::uint8_t* b) {
  if ((b[0] & 0xe0) != 0x20) return false;
  const std::uint32_t first32 =
      (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
  return !(InPrefix(first32, 0x20010000, 23) ||  // 2001::/23 IETF protocol assignments
           InPrefix(first32, 0x20010db8, 32) ||  // 2001:db8::/32 documentation
           InPrefix(first32, 0x3fff0000, 20));   // 3fff::/20 documentation
}

// ::ffff:a.b.c.d (how dual-stack sockets report IPv4 clients) and the old ::a.b.c.d form.
[[nodiscard]] bool EmbedsV4(const std::uint8_t* b) {
  for (int i = 0; i < 10; ++i) {
    if (b[i] != 0) return false;
  }
  return (b[10] == 0 && b[11] == 0) || (b[10] == 0xff && b[11] == 0xff);
}

// Strict dotted quad, as clients' addresses are written: four decimal octets, no leading zeros
// (which some parsers read as octal). Hand-written because inet_pton costs a fifth of a lookup.
[[nodiscard]] constexpr std::optional<std::uint32_t> ParseIpv4(std::string_view text) {
  std::uint32_t address = 0;
  std::size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (i >= text.size() || text[i] != '.') return std::nullopt;
      ++i;
    }
    const std::size_t start = i;
    std::uint32_t octet = 0;
    while (i < text.size() && i - start < 3 && text[i] >= '0' && text[i] <= '9') {
      octet = octet * 10 + static_cast<std::uint32_t>(text[i] - '0');
      ++i;
    }
    const std::size_t digits = i - start;
    if (digits == 0 || octet > 255 || (digits > 1 && text[start] == '0')) return std::nullopt;
    address = (address << 8) | octet;
  }
  if (i != text.size()) return std::nullopt;
  return address;
}
static_assert(ParseIpv4("192.0.2.255") == V4(192, 0, 2, 255));
static_assert(!ParseIpv4("1.2.3") && !ParseIpv4("1.2.3.4.") && !ParseIpv4("01.2.3.4") &&
              !ParseIpv4("1.2.3.256") && !ParseIpv4("1234.1.1.1") && !ParseIpv4("1..2.3"));

[[nodiscard]] std::optional<std::string_view> ReadString(const MMDB_entry_s& entry,
                                                         const Path& path) {
  MMDB_entry_s start = entry;  // MMDB_aget_value takes a non-const pointer
  MMDB_entry_data_s data;
  if (MMDB_aget_value(&start, &data, path.data()) != MMDB_SUCCESS || !data.has_data ||
      data.type != MMDB_DATA_TYPE_UTF8_STRING) {
    return std::nullopt;
  }
  return std::string_view(data.utf8_string, data.data_size);
}

template <std::size_t N>
[[nodiscard]] std::optional<double> ReadNumber(const MMDB_entry_s& entry,
                                               const std::array<Path, N>& paths) {
  for (const Path& path : paths) {
    MMDB_entry_s start = entry;
    MMDB_entry_data_s data;
    if (MMDB_aget_value(&start, &data, path.data()) != MMDB_SUCCESS || !data.has_data) continue;
    if (data.type == MMDB_DATA_TYPE_DOUBLE) return data.double_value;
    if (data.type == MMDB_DATA_TYPE_FLOAT) return static_cast<double>(data.float_value);
  }
  return std::nullopt;
}

[[nodiscard]] constexpr char ToUpperAscii(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

[[nodiscard]] constexpr bool IsAsciiLetter(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

[[nodiscard]] constexpr bool IsContinentCode(std::string_view c) {
  return c == "AF" || c == "AN" || c == "AS" || c == "EU" || c == "NA" || c == "OC" || c == "SA";
}

[[nodiscard]] std::optional<GeoLocation> Decode(const MMDB_entry_s& entry) {
  std::optional<std::string_view> code;
  for (const Path& path : kCountryPaths) {
    code = ReadString(entry, path);
    if (code) break;
  }
  // Anything but two letters (MaxMind's old "EU"/"AP" pseudo-countries are two letters, and
  // the table does not know them) cannot be matched against a region's countries.
  if (!code || code->size() != 2 || !IsAsciiLetter((*code)[0]) || !IsAsciiLetter((*code)[1])) {
    return std::nullopt;
  }

  GeoLocation location;
  location.country = {ToUpperAscii((*code)[0]), ToUpperAscii((*code)[1])};
  const std::optional<CountryInfo> info = LookupCountry(location.country);

  const std::optional<std::string_view> continent = ReadString(entry, kContinentPath);
  if (continent && IsContinentCode(*continent)) {
    location.continent = *continent;
  } else if (info) {
    location.continent = info->continent;
  }

  const std::optional<double> latitude = ReadNumber(entry, kLatitudePaths);
  const std::optional<double> longitude = ReadNumber(entry, kLongitudePaths);
  if (latitude && longitude && *latitude >= -90 && *latitude <= 90 && *longitude >= -180 &&
      *longitude <= 180) {
    location.latitude = latitude;
    location.longitude = longitude;
  } else if (info) {
    location.latitude = info->latitude;
    location.longitude = info->longitude;
  }
  return location;
}

class MaxMindLocator final : public GeoLocator {
 public:
  MaxMindLocator() = default;
  MaxMindLocator(const MaxMindLocator&) = delete;
  MaxMindLocator& operator=(const MaxMindLocator&) = delete;
  ~MaxMindLocator() override {
    if (open_) MMDB_close(&db_);
  }

  // Once, before the locator is shared: MMDB_s keeps pointers into itself, so it is opened in
  // place rather than moved.
  [[nodiscard]] Status Open(const std::filesystem::path& path, std::size_t max_cached_records) {
    const std::string shown = "GeoIP database '" + path.string() + "'";
    std::error_code ec;
    const std::filesystem::file_status status = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(status)) {
      return NotFound(shown + " does not exist (scripts/fetch-geoip installs the default one)");
    }
    if (!std::filesystem::is_regular_file(status)) {
      return InvalidArgument(shown + " is not a regular file");
    }
    // mmap refuses an empty file with EINVAL, which would read as an I/O problem.
    if (std::filesystem::file_size(path, ec) == 0 && !ec) {
      return MakeError(ErrorCode::kCorrupted, shown + " is empty");
    }

    const int result = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &db_);
    const int saved_errno = errno;
    switch (result) {
      case MMDB_SUCCESS:
        open_ = true;
        CacheRecords(max_cached_records);
        return {};
      case MMDB_FILE_OPEN_ERROR:
      case MMDB_IO_ERROR:
        if (saved_errno == ENOENT) return NotFound(shown + " does not exist");
        return MakeError(ErrorCode::kIo, shown + " cannot be read: " +
                                             std::generic_category().message(saved_errno));
      case MMDB_OUT_OF_MEMORY_ERROR:
        return MakeError(ErrorCode::kIo, shown + " cannot be mapped: out of memory");
      default:  // invalid metadata or data, unknown format, corrupt search tree
        return MakeError(ErrorCode::kCorrupted,
                         shown + " is not a valid MaxMind DB file: " + MMDB_strerror(result));
    }
  }

  // Parses the text itself rather than calling MMDB_lookup_string, whose getaddrinfo is slow
  // and accepts inet_aton forms ("8.8.8", octal "010.0.0.1") that no client address has.
  [[nodiscard]] std::optional<GeoLocation> Lookup(std::string_view ip) const override {
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    const sockaddr* address = reinterpret_cast<const sockaddr*>(&v4);
    std::uint32_t v4_host_order = 0;
    if (ip.find(':') == std::string_view::npos) {
      const std::optional<std::uint32_t> parsed = ParseIpv4(ip);
      if (!parsed) return std::nullopt;
      v4_host_order = *parsed;
    } else {
      // inet_pton needs a terminated string, and would stop at an embedded NUL, accepting
      // "::1\0junk".
      if (ip.size() > kMaxAddressLength || ip.find('\0') != std::string_view::npos) {
        return std::nullopt;
      }
      std::array<char, kMaxAddressLength + 1> text;
      std::memcpy(text.data(), ip.data(), ip.size());
      text[ip.size()] = '\0';
      if (inet_pton(AF_INET6, text.data(), &v6.sin6_addr) != 1) return std::nullopt;
      const std::uint8_t* bytes = v6.sin6_addr.s6_addr;
      if (EmbedsV4(bytes)) {
        // Looked up as IPv4: not every database aliases ::ffff:0:0/96 to its IPv4 tree.
        v4_host_order = (std::uint32_t{bytes[12]} << 24) | (std::uint32_t{bytes[13]} << 16) |
                        (std::uint32_t{bytes[14]} << 8) | bytes[15];
      } else {
        if (!IsLocatableV6(bytes)) return std::nullopt;
        address = reinterpret_cast<const sockaddr*>(&v6);
      }
    }
    if (address->sa_family == AF_INET) {
      if (!IsLocatableV4(v4_host_order)) return std::nullopt;
      v4.sin_addr.s_addr = htonl(v4_host_order);
    }

    int mmdb_error = MMDB_SUCCESS;
    // Read-only on db_ (the IPv4 start node is computed in MMDB_open), so safe from any thread.
    const MMDB_lookup_result_s result = MMDB_lookup_sockaddr(&db_, address, &mmdb_error);
    // An error here is an IPv6 address against an IPv4-only database, or a corrupt tree; either
    // way the address cannot be placed.
    if (mmdb_error != MMDB_SUCCESS || !result.found_entry) return std::nullopt;
    if (const CachedRecord* cached = FindCached(result.entry.offset)) return cached->location;
    return Decode(result.entry);
  }

 private:
  struct CachedRecord {
    std::uint32_t offset;  // in the data section, as MMDB_entry_s has it
    std::optional<GeoLocation> location;
  };

  // Country databases hold a few hundred distinct records (one per country) behind a million
  // tree nodes, and decoding one costs more than finding it, so all are decoded up front, unless
  // there are more than `max_records` (a city database): those decode per lookup.
  // Walks every tree node once (tens of milliseconds for the shipped database).
  void CacheRecords(std::size_t max_records) {
    if (max_records == 0) return;
    std::unordered_set<std::uint32_t> seen;
    for (std::uint32_t node = 0; node < db_.metadata.node_count; ++node) {
      MMDB_search_node_s search_node;
      if (MMDB_read_node(&db_, node, &search_node) != MMDB_SUCCESS) return;
      for (const auto& [type, entry] :
           {std::pair{search_node.left_record_type, search_node.left_record_entry},
            std::pair{search_node.right_record_type, search_node.right_record_entry}}) {
        if (type != MMDB_RECORD_TYPE_DATA) continue;
        if (seen.insert(entry.offset).second && seen.size() > max_records) return;
      }
    }
    std::vector<CachedRecord> records;
    records.reserve(seen.size());
    for (const std::uint32_t offset : seen) {
      records.push_back({offset, Decode(MMDB_entry_s{&db_, offset})});
    }
    std::sort(records.begin(), records.end(),
              [](const CachedRecord& a, const CachedRecord& b) { return a.offset < b.offset; });
    records_ = std::move(records);
  }

  [[nodiscard]] const CachedRecord* FindCached(std::uint32_t offset) const {
    const auto it = std::lower_bound(
        records_.begin(), records_.end(), offset,
        [](const CachedRecord& record, std::uint32_t o) { return record.offset < o; });
    return it != records_.end() && it->offset == offset ? &*it : nullptr;
  }

  MMDB_s db_{};
  bool open_ = false;
  std::vector<CachedRecord> records_;  // sorted by offset; empty when not cached
};

}  // namespace

Result<std::shared_ptr<const GeoLocator>> OpenMaxMindDatabase(const std::filesystem::path& path) {
  return internal::OpenMaxMindDatabase(path, internal::kMaxCachedRecords);
}

namespace internal {

Result<std::shared_ptr<const GeoLocator>> OpenMaxMindDatabase(const std::filesystem::path& path,
                                                              std::size_t max_cached_records) {
  auto locator = std::make_shared<MaxMindLocator>();
  if (Status opened = locator->Open(path, max_cached_records); !opened) {
    return std::unexpected(opened.error());
  }
  return std::shared_ptr<const GeoLocator>(std::move(locator));
}

}  // namespace internal

}  // namespace streamgate::geo
