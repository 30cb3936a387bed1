#include "geo/maxmind_locator.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "geo/mmdb_builder.hpp"
#include "geo/shipped_database.hpp"
#include "streamgate/geo/geo_locator.hpp"

namespace streamgate::geo {
namespace {

using testing::BuildIpv4Database;
using ::testing::HasSubstr;
using testing::Mmdb;

// A private directory for database files, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "geo_test.XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }

  std::filesystem::path Write(std::string_view name, std::string_view contents) const {
    const std::filesystem::path file = path_ / name;
    std::ofstream(file, std::ios::binary) << contents;
    return file;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// --- The shipped database (ip-location-db geo-whois-asn-country) -----------------------------

class ShippedDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(testing::OpenShippedDatabase(locator_)); }

  std::optional<std::string> CountryOf(std::string_view ip) const {
    std::optional<GeoLocation> location = locator_->Lookup(ip);
    if (!location) return std::nullopt;
    return location->country;
  }

  std::shared_ptr<const GeoLocator> locator_;
};

// Addresses whose registration is long-standing and unlikely to move between database builds.
TEST_F(ShippedDatabaseTest, KnownIpv4AddressesMapToTheirCountries) {
  EXPECT_EQ(CountryOf("8.8.8.8"), "US");         // Google Public DNS
  EXPECT_EQ(CountryOf("9.9.9.9"), "US");         // Quad9
  EXPECT_EQ(CountryOf("1.1.1.1"), "AU");         // APNIC's research prefix (Cloudflare anycast)
  EXPECT_EQ(CountryOf("193.0.6.139"), "NL");     // RIPE NCC, Amsterdam
  EXPECT_EQ(CountryOf("131.111.150.25"), "GB");  // University of Cambridge
  EXPECT_EQ(CountryOf("130.149.7.201"), "DE");   // TU Berlin
  EXPECT_EQ(CountryOf("133.11.0.1"), "JP");      // University of Tokyo
  EXPECT_EQ(CountryOf("200.160.2.3"), "BR");     // NIC.br
}

TEST_F(ShippedDatabaseTest, KnownIpv6AddressesMapToTheirCountries) {
  EXPECT_EQ(CountryOf("2001:4860:4860::8888"), "US");         // Google Public DNS
  EXPECT_EQ(CountryOf("2001:67c:2e8:22::c100:68b"), "NL");    // RIPE NCC
  EXPECT_EQ(CountryOf("2001:4860:4860:0:0:0:0:8888"), "US");  // uncompressed form
}

TEST_F(ShippedDatabaseTest, Ipv4MappedAddressesAreLookedUpAsIpv4) {
  // Dual-stack sockets report IPv4 clients this way; the database itself has no such entries.
  EXPECT_EQ(CountryOf("::ffff:8.8.8.8"), "US");
  EXPECT_EQ(CountryOf("::FFFF:193.0.6.139"), "NL");
  EXPECT_EQ(CountryOf("::ffff:10.0.0.1"), std::nullopt);
}

TEST_F(ShippedDatabaseTest, CountryOnlyRecordsTakeContinentAndPointFromTheTable) {
  const std::optional<GeoLocation> location = locator_->Lookup("8.8.8.8");
  ASSERT_TRUE(location.has_value());
  const std::optional<CountryInfo> us = LookupCountry("US");
  ASSERT_TRUE(us.has_value());
  EXPECT_EQ(*location, (GeoLocation{"US", "NA", us->latitude, us->longitude}));

  const std::optional<GeoLocation> nl = locator_->Lookup("193.0.6.139");
  ASSERT_TRUE(nl.has_value());
  EXPECT_EQ(nl->continent, "EU");
}

TEST_F(ShippedDatabaseTest, InvalidTextIsNotLocated) {
  for (std::string_view ip :
       {"", "8.8.8", "8.8.8.8.8", "256.1.1.1", " 8.8.8.8", "8.8.8.8 ", "8.8.8.8/32", "010.0.0.1",
        "8.8.8.08", "0x8.8.8.8", "8.8.2056", "example.com", "-1.0.0.0", "2001:4860:4860::8888::1",
        "gggg::1", "2001:4860:4860::8888%eth0", "[2001:4860:4860::8888]", "8.8.8.8:53",
        "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2555"}) {
    EXPECT_EQ(locator_->Lookup(ip), std::nullopt) << "'" << ip << "'";
  }
  EXPECT_EQ(locator_->Lookup(std::string(1000, '1')), std::nullopt);
  EXPECT_EQ(locator_->Lookup(std::string_view("8.8.8.8\0junk", 12)), std::nullopt);
  // Only the view's characters count, not what follows them in memory.
  EXPECT_EQ(CountryOf(std::string_view("8.8.8.8999", 7)), "US");
}

TEST_F(ShippedDatabaseTest, AddressesThatNameNoPlaceAreNotLocated) {
  // Several of these are in the database (192.168/16 and 172.16/12 as AU, 2001:db8::/32 as JP):
  // the locator must not route LAN or documentation addresses to a country.
  for (std::string_view ip :
       {"10.0.0.1",        "127.0.0.1",   "192.168.1.1", "172.16.0.1",      "172.31.255.254",
        "100.64.0.1",      "169.254.1.1", "0.0.0.0",     "192.0.2.1",       "198.51.100.7",
        "203.0.113.9",     "198.18.0.1",  "224.0.0.1",   "239.255.255.250", "240.0.0.1",
        "255.255.255.255", "::",          "::1",         "fe80::1",         "fd00::1",
        "fc00::1",         "ff02::1",     "2001:db8::1", "2001::1",         "64:ff9b::808:808",
        "3fff::1"}) {
    EXPECT_EQ(locator_->Lookup(ip), std::nullopt) << ip;
  }
  // The edges of the private blocks are public.
  EXPECT_TRUE(locator_->Lookup("172.32.0.1").has_value());
  EXPECT_TRUE(locator_->Lookup("192.169.0.1").has_value());
  EXPECT_TRUE(locator_->Lookup("11.0.0.1").has_value());
}

// --- Opening -----------------------------------------------------------------------------------

TEST(OpenMaxMindDatabaseTest, MissingFileIsNotFoundAndNamesTheFix) {
  const auto opened = OpenMaxMindDatabase("/nonexistent/streamgate/geo.mmdb");
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(opened.error().message(), HasSubstr("/nonexistent/streamgate/geo.mmdb"));
  EXPECT_THAT(opened.error().message(), HasSubstr("scripts/fetch-geoip"));
}

TEST(OpenMaxMindDatabaseTest, GarbageFileIsCorrupted) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const auto opened = OpenMaxMindDatabase(dir.Write("garbage.mmdb", std::string(4096, 'x')));
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error().code(), ErrorCode::kCorrupted);
  EXPECT_THAT(opened.error().message(), HasSubstr("garbage.mmdb"));
  EXPECT_THAT(opened.error().message(), HasSubstr("not a valid MaxMind DB file"));
}

TEST(OpenMaxMindDatabaseTest, EmptyFileIsCorrupted) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const auto opened = OpenMaxMindDatabase(dir.Write("empty.mmdb", ""));
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error().code(), ErrorCode::kCorrupted);
  EXPECT_THAT(opened.error().message(), HasSubstr("is empty"));
}

TEST(OpenMaxMindDatabaseTest, TruncatedDatabaseIsCorrupted) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string file = BuildIpv4Database({{{8, 8, 8, 0}, 24, Mmdb::Map({})}}, "Test");
  file.resize(file.size() - 40);  // cuts into the metadata
  const auto opened = OpenMaxMindDatabase(dir.Write("truncated.mmdb", file));
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error().code(), ErrorCode::kCorrupted);
}

TEST(OpenMaxMindDatabaseTest, DirectoryIsInvalidArgument) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const auto opened = OpenMaxMindDatabase(dir.path());
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error().code(), ErrorCode::kInvalidArgument);
}

// --- Record layouts, from databases built here -------------------------------------------------

// Run with records decoded up front (as for a country database) and per lookup (as for a city
// database): both must give the same answers.
class RecordLayoutTest : public ::testing::TestWithParam<std::size_t> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    const std::string database = BuildIpv4Database(
        {
            // MaxMind City: country, continent and a position of its own.
            {{81, 2, 69, 0},
             24,
             Mmdb::Map({
                 {"city", Mmdb::Map({{"names", Mmdb::Map({{"en", Mmdb::String("London")}})}})},
                 {"continent", Mmdb::Map({{"code", Mmdb::String("EU")}})},
                 {"country", Mmdb::Map({{"iso_code", Mmdb::String("GB")}})},
                 {"location", Mmdb::Map({{"accuracy_radius", Mmdb::Uint16(10)},
                                         {"latitude", Mmdb::Double(51.5142)},
                                         {"longitude", Mmdb::Double(-0.0931)}})},
             })},
            // MaxMind Country: no position.
            {{89, 160, 20, 0},
             24,
             Mmdb::Map({
                 {"continent", Mmdb::Map({{"code", Mmdb::String("EU")}})},
                 {"country", Mmdb::Map({{"iso_code", Mmdb::String("SE")}})},
             })},
            // MaxMind anycast/satellite ranges: only the registered country.
            {{2, 125, 160, 0},
             24,
             Mmdb::Map({{"registered_country", Mmdb::Map({{"iso_code", Mmdb::String("GB")}})}})},
            // A continent alone places nothing the regions can be matched on.
            {{1, 2, 3, 0},
             24,
             Mmdb::Map({{"continent", Mmdb::Map({{"code", Mmdb::String("EU")}})}})},
            // ip-location-db city: top-level float coordinates.
            {{3, 3, 3, 0},
             24,
             Mmdb::Map({{"country_code", Mmdb::String("JP")},
                        {"latitude", Mmdb::Float(35.5F)},
                        {"longitude", Mmdb::Float(139.75F)}})},
            // Lower case, unknown and malformed codes; a nonsense continent.
            {{5, 6, 7, 0}, 24, Mmdb::Map({{"country_code", Mmdb::String("fr")}})},
            {{9, 9, 9, 0}, 24, Mmdb::Map({{"country_code", Mmdb::String("ZZ")}})},
            {{7, 7, 7, 0}, 24, Mmdb::Map({{"country_code", Mmdb::String("USA")}})},
            {{6, 6, 6, 0},
             24,
             Mmdb::Map({{"continent", Mmdb::Map({{"code", Mmdb::String("XX")}})},
                        {"country", Mmdb::Map({{"iso_code", Mmdb::String("CA")}})}})},
            // Out-of-range coordinates are ignored in favour of the table.
            {{4, 4, 4, 0},
             24,
             Mmdb::Map({{"country_code", Mmdb::String("DE")},
                        {"latitude", Mmdb::Double(123.0)},
                        {"longitude", Mmdb::Double(8.0)}})},
        },
        "GeoIP2-City-Test");
    auto opened = internal::OpenMaxMindDatabase(dir_.Write("city.mmdb", database), GetParam());
    ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
    locator_ = *opened;
  }

  GeoLocation TablePoint(std::string country, std::string continent) const {
    const std::optional<CountryInfo> info = LookupCountry(country);
    EXPECT_TRUE(info.has_value()) << country;
    if (!info) return {};
    return {std::move(country), std::move(continent), info->latitude, info->longitude};
  }

  TempDir dir_;
  std::shared_ptr<const GeoLocator> locator_;
};

TEST_P(RecordLayoutTest, MaxMindCityRecordGivesItsOwnPosition) {
  EXPECT_EQ(locator_->Lookup("81.2.69.142"), (GeoLocation{"GB", "EU", 51.5142, -0.0931}));
}

TEST_P(RecordLayoutTest, MaxMindCountryRecordTakesThePointFromTheTable) {
  EXPECT_EQ(locator_->Lookup("89.160.20.112"), TablePoint("SE", "EU"));
}

TEST_P(RecordLayoutTest, RegisteredCountryIsTheLastResort) {
  EXPECT_EQ(locator_->Lookup("2.125.160.216"), TablePoint("GB", "EU"));
}

TEST_P(RecordLayoutTest, RecordWithoutCountryIsNotLocated) {
  EXPECT_EQ(locator_->Lookup("1.2.3.4"), std::nullopt);
}

TEST_P(RecordLayoutTest, IpLocationDbCityRecordGivesItsFloatPosition) {
  EXPECT_EQ(locator_->Lookup("3.3.3.3"), (GeoLocation{"JP", "AS", 35.5, 139.75}));
}

TEST_P(RecordLayoutTest, CountryCodesAreNormalisedOrRejected) {
  EXPECT_EQ(locator_->Lookup("5.6.7.8"), TablePoint("FR", "EU"));
  // Unknown to the table: the country still counts, with no continent or position.
  EXPECT_EQ(locator_->Lookup("9.9.9.9"), (GeoLocation{"ZZ", "", std::nullopt, std::nullopt}));
  EXPECT_EQ(locator_->Lookup("7.7.7.7"), std::nullopt);
}

TEST_P(RecordLayoutTest, BadContinentOrCoordinatesFallBackToTheTable) {
  EXPECT_EQ(locator_->Lookup("6.6.6.6"), TablePoint("CA", "NA"));
  EXPECT_EQ(locator_->Lookup("4.4.4.4"), TablePoint("DE", "EU"));
}

TEST_P(RecordLayoutTest, AddressesOutsideTheDatabaseAreNotLocated) {
  EXPECT_EQ(locator_->Lookup("8.8.8.8"), std::nullopt);
  // An IPv4-only database cannot answer for IPv6.
  EXPECT_EQ(locator_->Lookup("2001:4860:4860::8888"), std::nullopt);
  // ...but an IPv4-mapped address is IPv4.
  EXPECT_EQ(locator_->Lookup("::ffff:81.2.69.142"), (GeoLocation{"GB", "EU", 51.5142, -0.0931}));
}

INSTANTIATE_TEST_SUITE_P(CachedAndUncached, RecordLayoutTest,
                         ::testing::Values(internal::kMaxCachedRecords, 0),
                         [](const ::testing::TestParamInfo<std::size_t>& param_info) {
                           return param_info.param == 0 ? "DecodedPerLookup" : "DecodedUpFront";
                         });

}  // namespace
}  // namespace streamgate::geo
