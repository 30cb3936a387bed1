// Builds small MaxMind DB (.mmdb) files in memory, so tests can exercise record layouts (MaxMind
// GeoLite2/GeoIP2 City, ip-location-db city) that no database shipped here has. IPv4 trees with
// 24-bit records only; written from the MaxMind DB format specification (version 2.0).
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace streamgate::geo::testing {

// Encoders for data-section values; each returns the value's bytes.
class Mmdb {
 public:
  static std::string String(std::string_view s) {
    return Control(kUtf8String, s.size()) + std::string(s);
  }

  static std::string Double(double d) {
    return Control(kDouble, 8) + BigEndian(std::bit_cast<std::uint64_t>(d), 8);
  }

  static std::string Float(float f) {
    return Control(kFloat, 4) + BigEndian(std::bit_cast<std::uint32_t>(f), 4);
  }

  static std::string Uint16(std::uint16_t v) { return Unsigned(kUint16, v); }
  static std::string Uint32(std::uint32_t v) { return Unsigned(kUint32, v); }
  static std::string Uint64(std::uint64_t v) { return Unsigned(kUint64, v); }

  static std::string Map(std::initializer_list<std::pair<std::string_view, std::string>> entries) {
    std::string out = Control(kMap, entries.size());
    for (const auto& [key, value] : entries) out += String(key) + value;
    return out;
  }

  static std::string EmptyArray() { return Control(kArray, 0); }

 private:
  // Type numbers from the specification; those above 7 are "extended" (a second type byte).
  static constexpr int kUtf8String = 2;
  static constexpr int kDouble = 3;
  static constexpr int kUint16 = 5;
  static constexpr int kUint32 = 6;
  static constexpr int kMap = 7;
  static constexpr int kUint64 = 9;
  static constexpr int kArray = 11;
  static constexpr int kFloat = 15;

  static std::string Control(int type, std::size_t size) {
    if (size >= 29 + 256) throw std::length_error("mmdb test builder: value too large");
    std::string out;
    const int small_size = size < 29 ? static_cast<int>(size) : 29;
    out += static_cast<char>(((type <= 7 ? type : 0) << 5) | small_size);
    if (type > 7) out += static_cast<char>(type - 7);
    if (size >= 29) out += static_cast<char>(size - 29);
    return out;
  }

  static std::string BigEndian(std::uint64_t v, int bytes) {
    std::string out;
    for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
    return out;
  }

  static std::string Unsigned(int type, std::uint64_t v) {
    int bytes = 0;
    while (bytes < 8 && (v >> (8 * bytes)) != 0) ++bytes;  // minimal length, 0 for zero
    return Control(type, static_cast<std::size_t>(bytes)) + BigEndian(v, bytes);
  }
};

struct Ipv4Network {
  std::array<std::uint8_t, 4> address;
  int prefix_length;   // 1..32
  std::string record;  // an Mmdb::Map(...)
};

// A complete IPv4 database (ip_version 4, record size 24) holding `networks`, which must not
// overlap.
inline std::string BuildIpv4Database(const std::vector<Ipv4Network>& networks,
                                     std::string_view database_type) {
  // Children: >= 0 a node, kEmpty nothing, <= -2 the data record -(value + 2).
  constexpr std::int64_t kEmpty = -1;
  std::vector<std::array<std::int64_t, 2>> nodes = {{kEmpty, kEmpty}};
  std::string data;
  std::vector<std::uint32_t> record_offsets;
  for (const Ipv4Network& network : networks) {
    record_offsets.push_back(static_cast<std::uint32_t>(data.size()));
    data += network.record;
    const std::uint32_t address = (std::uint32_t{network.address[0]} << 24) |
                                  (std::uint32_t{network.address[1]} << 16) |
                                  (std::uint32_t{network.address[2]} << 8) | network.address[3];
    std::size_t node = 0;
    for (int depth = 0; depth < network.prefix_length; ++depth) {
      const int bit = static_cast<int>((address >> (31 - depth)) & 1);
      if (depth == network.prefix_length - 1) {
        nodes[node][bit] = -static_cast<std::int64_t>(record_offsets.size() - 1) - 2;
      } else {
        if (nodes[node][bit] < 0) {
          nodes.push_back({kEmpty, kEmpty});
          nodes[node][bit] = static_cast<std::int64_t>(nodes.size() - 1);
        }
        node = static_cast<std::size_t>(nodes[node][bit]);
      }
    }
  }

  const auto node_count = static_cast<std::uint32_t>(nodes.size());
  auto record_value = [&](std::int64_t child) -> std::uint32_t {
    if (child == kEmpty) return node_count;
    if (child >= 0) return static_cast<std::uint32_t>(child);
    // Data records point past the tree and the 16-byte separator.
    return node_count + 16 + record_offsets[static_cast<std::size_t>(-child - 2)];
  };
  std::string file;
  for (const auto& children : nodes) {
    for (const std::int64_t child : children) {
      const std::uint32_t v = record_value(child);
      file += static_cast<char>((v >> 16) & 0xff);
      file += static_cast<char>((v >> 8) & 0xff);
      file += static_cast<char>(v & 0xff);
    }
  }
  file += std::string(16, '\0');
  file += data;
  file += "\xAB\xCD\xEFMaxMind.com";
  file += Mmdb::Map({
      {"binary_format_major_version", Mmdb::Uint16(2)},
      {"binary_format_minor_version", Mmdb::Uint16(0)},
      {"build_epoch", Mmdb::Uint64(1700000000)},
      {"database_type", Mmdb::String(database_type)},
      {"description", Mmdb::Map({})},
      {"ip_version", Mmdb::Uint16(4)},
      {"languages", Mmdb::EmptyArray()},
      {"node_count", Mmdb::Uint32(node_count)},
      {"record_size", Mmdb::Uint16(24)},
  });
  return file;
}

}  // namespace streamgate::geo::testing
