// Built-in country table: continent and a representative point for every ISO 3166-1 alpha-2
// code, so that a country-only GeoIP database still yields a continent and coordinates.
//
// Continents follow the convention of MaxMind/GeoNames data (RU and the Caucasus states: EU for
// RU, AS for AM/AZ/GE; TR and CY: AS and EU; EG: AF; all of Central America and the Caribbean:
// NA), so a value from the table agrees with what a city database would say.
//
// Points are the geographic centre rounded to about half a degree. They only rank regions by
// distance, so for a few large countries whose people live far from the centre (RU, CA, AU, CN,
// BR, ID) the point sits nearer the population instead: otherwise a client in Moscow would look
// closer to Tokyo than to Frankfurt.
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "streamgate/geo/geo_locator.hpp"

namespace streamgate::geo {
namespace {

struct CountryRow {
  std::string_view code;
  std::string_view continent;
  double latitude;
  double longitude;
};

// Sorted by code; the static_asserts below keep it so.
constexpr std::array kCountries = {
    CountryRow{"AD", "EU", 42.5, 1.5},      // Andorra
    CountryRow{"AE", "AS", 24.0, 54.0},     // United Arab Emirates
    CountryRow{"AF", "AS", 33.0, 65.0},     // Afghanistan
    CountryRow{"AG", "NA", 17.1, -61.8},    // Antigua and Barbuda
    CountryRow{"AI", "NA", 18.2, -63.2},    // Anguilla
    CountryRow{"AL", "EU", 41.0, 20.0},     // Albania
    CountryRow{"AM", "AS", 40.0, 45.0},     // Armenia
    CountryRow{"AN", "NA", 12.2, -69.0},    // Netherlands Antilles (withdrawn, still in use)
    CountryRow{"AO", "AF", -12.5, 18.5},    // Angola
    CountryRow{"AQ", "AN", -80.0, 0.0},     // Antarctica
    CountryRow{"AR", "SA", -34.0, -64.0},   // Argentina
    CountryRow{"AS", "OC", -14.3, -170.7},  // American Samoa
    CountryRow{"AT", "EU", 47.5, 14.5},     // Austria
    CountryRow{"AU", "OC", -31.0, 145.0},   // Australia (south-east, where most people live)
    CountryRow{"AW", "NA", 12.5, -70.0},    // Aruba
    CountryRow{"AX", "EU", 60.2, 20.0},     // Aland Islands
    CountryRow{"AZ", "AS", 40.5, 47.5},     // Azerbaijan
    CountryRow{"BA", "EU", 44.0, 18.0},     // Bosnia and Herzegovina
    CountryRow{"BB", "NA", 13.2, -59.5},    // Barbados
    CountryRow{"BD", "AS", 24.0, 90.0},     // Bangladesh
    CountryRow{"BE", "EU", 50.8, 4.5},      // Belgium
    CountryRow{"BF", "AF", 12.5, -1.5},     // Burkina Faso
    CountryRow{"BG", "EU", 43.0, 25.0},     // Bulgaria
    CountryRow{"BH", "AS", 26.0, 50.5},     // Bahrain
    CountryRow{"BI", "AF", -3.5, 30.0},     // Burundi
    CountryRow{"BJ", "AF", 9.5, 2.3},       // Benin
    CountryRow{"BL", "NA", 17.9, -62.8},    // Saint Barthelemy
    CountryRow{"BM", "NA", 32.3, -64.8},    // Bermuda
    CountryRow{"BN", "AS", 4.5, 114.7},     // Brunei
    CountryRow{"BO", "SA", -17.0, -65.0},   // Bolivia
    CountryRow{"BQ", "NA", 12.2, -68.3},    // Bonaire, Sint Eustatius and Saba
    CountryRow{"BR", "SA", -16.0, -47.0},   // Brazil (towards the populous south-east)
    CountryRow{"BS", "NA", 24.3, -76.0},    // Bahamas
    CountryRow{"BT", "AS", 27.5, 90.5},     // Bhutan
    CountryRow{"BV", "AN", -54.4, 3.4},     // Bouvet Island
    CountryRow{"BW", "AF", -22.0, 24.0},    // Botswana
    CountryRow{"BY", "EU", 53.5, 28.0},     // Belarus
    CountryRow{"BZ", "NA", 17.3, -88.8},    // Belize
    CountryRow{"CA", "NA", 47.0, -85.0},    // Canada (the southern belt, where most people live)
    CountryRow{"CC", "AS", -12.2, 96.8},    // Cocos (Keeling) Islands
    CountryRow{"CD", "AF", -2.5, 23.5},     // Congo, Democratic Republic
    CountryRow{"CF", "AF", 7.0, 21.0},      // Central African Republic
    CountryRow{"CG", "AF", -1.0, 15.0},     // Congo
    CountryRow{"CH", "EU", 47.0, 8.0},      // Switzerland
    CountryRow{"CI", "AF", 7.5, -5.5},      // Cote d'Ivoire
    CountryRow{"CK", "OC", -21.2, -159.8},  // Cook Islands
    CountryRow{"CL", "SA", -33.0, -71.0},   // Chile
    CountryRow{"CM", "AF", 6.0, 12.0},      // Cameroon
    CountryRow{"CN", "AS", 32.0, 112.0},    // China (towards the populous east)
    CountryRow{"CO", "SA", 4.0, -73.0},     // Colombia
    CountryRow{"CR", "NA", 10.0, -84.0},    // Costa Rica
    CountryRow{"CU", "NA", 21.5, -79.5},    // Cuba
    CountryRow{"CV", "AF", 16.0, -24.0},    // Cabo Verde
    CountryRow{"CW", "NA", 12.2, -69.0},    // Curacao
    CountryRow{"CX", "AS", -10.5, 105.7},   // Christmas Island
    CountryRow{"CY", "EU", 35.0, 33.0},     // Cyprus
    CountryRow{"CZ", "EU", 49.8, 15.5},     // Czechia
    CountryRow{"DE", "EU", 51.0, 10.0},     // Germany
    CountryRow{"DJ", "AF", 11.5, 43.0},     // Djibouti
    CountryRow{"DK", "EU", 56.0, 10.0},     // Denmark
    CountryRow{"DM", "NA", 15.4, -61.4},    // Dominica
    CountryRow{"DO", "NA", 19.0, -70.5},    // Dominican Republic
    CountryRow{"DZ", "AF", 28.0, 3.0},      // Algeria
    CountryRow{"EC", "SA", -1.5, -78.5},    // Ecuador
    CountryRow{"EE", "EU", 59.0, 26.0},     // Estonia
    CountryRow{"EG", "AF", 27.0, 30.0},     // Egypt
    CountryRow{"EH", "AF", 24.5, -13.0},    // Western Sahara
    CountryRow{"ER", "AF", 15.0, 39.0},     // Eritrea
    CountryRow{"ES", "EU", 40.0, -4.0},     // Spain
    CountryRow{"ET", "AF", 8.0, 38.0},      // Ethiopia
    CountryRow{"FI", "EU", 62.0, 26.0},     // Finland
    CountryRow{"FJ", "OC", -18.0, 178.0},   // Fiji
    CountryRow{"FK", "SA", -51.8, -59.0},   // Falkland Islands
    CountryRow{"FM", "OC", 6.9, 158.2},     // Micronesia
    CountryRow{"FO", "EU", 62.0, -7.0},     // Faroe Islands
    CountryRow{"FR", "EU", 46.5, 2.5},      // France
    CountryRow{"GA", "AF", -0.5, 11.5},     // Gabon
    CountryRow{"GB", "EU", 53.0, -1.5},     // United Kingdom
    CountryRow{"GD", "NA", 12.1, -61.7},    // Grenada
    CountryRow{"GE", "AS", 42.0, 43.5},     // Georgia
    CountryRow{"GF", "SA", 4.0, -53.0},     // French Guiana
    CountryRow{"GG", "EU", 49.5, -2.6},     // Guernsey
    CountryRow{"GH", "AF", 8.0, -1.0},      // Ghana
    CountryRow{"GI", "EU", 36.1, -5.4},     // Gibraltar
    CountryRow{"GL", "NA", 72.0, -40.0},    // Greenland
    CountryRow{"GM", "AF", 13.5, -15.5},    // Gambia
    CountryRow{"GN", "AF", 10.5, -10.5},    // Guinea
    CountryRow{"GP", "NA", 16.2, -61.6},    // Guadeloupe
    CountryRow{"GQ", "AF", 1.5, 10.0},      // Equatorial Guinea
    CountryRow{"GR", "EU", 39.0, 22.0},     // Greece
    CountryRow{"GS", "AN", -54.5, -37.0},   // South Georgia and the South Sandwich Islands
    CountryRow{"GT", "NA", 15.5, -90.3},    // Guatemala
    CountryRow{"GU", "OC", 13.4, 144.8},    // Guam
    CountryRow{"GW", "AF", 12.0, -15.0},    // Guinea-Bissau
    CountryRow{"GY", "SA", 5.0, -59.0},     // Guyana
    CountryRow{"HK", "AS", 22.3, 114.2},    // Hong Kong
    CountryRow{"HM", "AN", -53.1, 73.5},    // Heard Island and McDonald Islands
    CountryRow{"HN", "NA", 15.0, -86.5},    // Honduras
    CountryRow{"HR", "EU", 45.2, 15.5},     // Croatia
    CountryRow{"HT", "NA", 19.0, -72.5},    // Haiti
    CountryRow{"HU", "EU", 47.0, 19.5},     // Hungary
    CountryRow{"ID", "AS", -5.0, 112.0},    // Indonesia (towards Java, where most people live)
    CountryRow{"IE", "EU", 53.0, -8.0},     // Ireland
    CountryRow{"IL", "AS", 31.5, 35.0},     // Israel
    CountryRow{"IM", "EU", 54.2, -4.5},     // Isle of Man
    CountryRow{"IN", "AS", 21.0, 78.0},     // India
    CountryRow{"IO", "AS", -6.0, 71.5},     // British Indian Ocean Territory
    CountryRow{"IQ", "AS", 33.0, 44.0},     // Iraq
    CountryRow{"IR", "AS", 32.0, 53.0},     // Iran
    CountryRow{"IS", "EU", 65.0, -18.0},    // Iceland
    CountryRow{"IT", "EU", 42.8, 12.5},     // Italy
    CountryRow{"JE", "EU", 49.2, -2.1},     // Jersey
    CountryRow{"JM", "NA", 18.2, -77.5},    // Jamaica
    CountryRow{"JO", "AS", 31.0, 36.5},     // Jordan
    CountryRow{"JP", "AS", 36.0, 138.0},    // Japan
    CountryRow{"KE", "AF", 0.5, 38.0},      // Kenya
    CountryRow{"KG", "AS", 41.5, 74.5},     // Kyrgyzstan
    CountryRow{"KH", "AS", 12.5, 105.0},    // Cambodia
    CountryRow{"KI", "OC", 1.4, 173.0},     // Kiribati (Tarawa)
    CountryRow{"KM", "AF", -12.2, 44.3},    // Comoros
    CountryRow{"KN", "NA", 17.3, -62.7},    // Saint Kitts and Nevis
    CountryRow{"KP", "AS", 40.0, 127.0},    // Korea, North
    CountryRow{"KR", "AS", 36.5, 127.8},    // Korea, South
    CountryRow{"KW", "AS", 29.5, 47.8},     // Kuwait
    CountryRow{"KY", "NA", 19.5, -80.6},    // Cayman Islands
    CountryRow{"KZ", "AS", 48.0, 68.0},     // Kazakhstan
    CountryRow{"LA", "AS", 18.0, 105.0},    // Laos
    CountryRow{"LB", "AS", 33.9, 35.9},     // Lebanon
    CountryRow{"LC", "NA", 13.9, -61.0},    // Saint Lucia
    CountryRow{"LI", "EU", 47.2, 9.5},      // Liechtenstein
    CountryRow{"LK", "AS", 7.5, 80.7},      // Sri Lanka
    CountryRow{"LR", "AF", 6.5, -9.5},      // Liberia
    CountryRow{"LS", "AF", -29.5, 28.5},    // Lesotho
    CountryRow{"LT", "EU", 55.5, 24.0},     // Lithuania
    CountryRow{"LU", "EU", 49.8, 6.1},      // Luxembourg
    CountryRow{"LV", "EU", 57.0, 25.0},     // Latvia
    CountryRow{"LY", "AF", 26.0, 17.0},     // Libya
    CountryRow{"MA", "AF", 32.0, -6.0},     // Morocco
    CountryRow{"MC", "EU", 43.7, 7.4},      // Monaco
    CountryRow{"MD", "EU", 47.0, 28.5},     // Moldova
    CountryRow{"ME", "EU", 42.8, 19.3},     // Montenegro
    CountryRow{"MF", "NA", 18.1, -63.1},    // Saint Martin (French part)
    CountryRow{"MG", "AF", -19.0, 46.5},    // Madagascar
    CountryRow{"MH", "OC", 7.1, 171.2},     // Marshall Islands (Majuro)
    CountryRow{"MK", "EU", 41.6, 21.7},     // North Macedonia
    CountryRow{"ML", "AF", 17.0, -4.0},     // Mali
    CountryRow{"MM", "AS", 21.0, 96.0},     // Myanmar
    CountryRow{"MN", "AS", 46.5, 105.0},    // Mongolia
    CountryRow{"MO", "AS", 22.2, 113.5},    // Macao
    CountryRow{"MP", "OC", 15.2, 145.8},    // Northern Mariana Islands
    CountryRow{"MQ", "NA", 14.6, -61.0},    // Martinique
    CountryRow{"MR", "AF", 20.0, -10.5},    // Mauritania
    CountryRow{"MS", "NA", 16.7, -62.2},    // Montserrat
    CountryRow{"MT", "EU", 35.9, 14.4},     // Malta
    CountryRow{"MU", "AF", -20.3, 57.6},    // Mauritius
    CountryRow{"MV", "AS", 3.2, 73.2},      // Maldives
    CountryRow{"MW", "AF", -13.5, 34.0},    // Malawi
    CountryRow{"MX", "NA", 23.0, -102.0},   // Mexico
    CountryRow{"MY", "AS", 3.5, 108.0},     // Malaysia (between the peninsula and Borneo)
    CountryRow{"MZ", "AF", -18.0, 35.0},    // Mozambique
    CountryRow{"NA", "AF", -22.0, 17.0},    // Namibia
    CountryRow{"NC", "OC", -21.5, 165.5},   // New Caledonia
    CountryRow{"NE", "AF", 17.5, 9.0},      // Niger
    CountryRow{"NF", "OC", -29.0, 168.0},   // Norfolk Island
    CountryRow{"NG", "AF", 9.5, 8.0},       // Nigeria
    CountryRow{"NI", "NA", 13.0, -85.0},    // Nicaragua
    CountryRow{"NL", "EU", 52.3, 5.5},      // Netherlands
    CountryRow{"NO", "EU", 61.0, 9.0},      // Norway
    CountryRow{"NP", "AS", 28.0, 84.0},     // Nepal
    CountryRow{"NR", "OC", -0.5, 166.9},    // Nauru
    CountryRow{"NU", "OC", -19.0, -169.9},  // Niue
    CountryRow{"NZ", "OC", -41.0, 174.0},   // New Zealand
    CountryRow{"OM", "AS", 21.0, 57.0},     // Oman
    CountryRow{"PA", "NA", 8.5, -80.0},     // Panama
    CountryRow{"PE", "SA", -10.0, -76.0},   // Peru
    CountryRow{"PF", "OC", -17.5, -149.5},  // French Polynesia (Tahiti)
    CountryRow{"PG", "OC", -6.5, 147.0},    // Papua New Guinea
    CountryRow{"PH", "AS", 12.5, 122.0},    // Philippines
    CountryRow{"PK", "AS", 30.0, 70.0},     // Pakistan
    CountryRow{"PL", "EU", 52.0, 19.5},     // Poland
    CountryRow{"PM", "NA", 46.8, -56.3},    // Saint Pierre and Miquelon
    CountryRow{"PN", "OC", -25.1, -130.1},  // Pitcairn
    CountryRow{"PR", "NA", 18.2, -66.5},    // Puerto Rico
    CountryRow{"PS", "AS", 32.0, 35.2},     // Palestine
    CountryRow{"PT", "EU", 39.5, -8.0},     // Portugal
    CountryRow{"PW", "OC", 7.5, 134.6},     // Palau
    CountryRow{"PY", "SA", -23.0, -58.0},   // Paraguay
    CountryRow{"QA", "AS", 25.3, 51.2},     // Qatar
    CountryRow{"RE", "AF", -21.1, 55.5},    // Reunion
    CountryRow{"RO", "EU", 46.0, 25.0},     // Romania
    CountryRow{"RS", "EU", 44.0, 20.9},     // Serbia
    CountryRow{"RU", "EU", 55.5, 45.0},     // Russia (European Russia, where most people live)
    CountryRow{"RW", "AF", -2.0, 30.0},     // Rwanda
    CountryRow{"SA", "AS", 24.0, 45.0},     // Saudi Arabia
    CountryRow{"SB", "OC", -9.0, 160.0},    // Solomon Islands
    CountryRow{"SC", "AF", -4.6, 55.5},     // Seychelles
    CountryRow{"SD", "AF", 15.5, 30.0},     // Sudan
    CountryRow{"SE", "EU", 62.0, 15.0},     // Sweden
    CountryRow{"SG", "AS", 1.4, 103.8},     // Singapore
    CountryRow{"SH", "AF", -15.9, -5.7},    // Saint Helena, Ascension and Tristan da Cunha
    CountryRow{"SI", "EU", 46.1, 14.8},     // Slovenia
    CountryRow{"SJ", "EU", 78.0, 16.0},     // Svalbard and Jan Mayen
    CountryRow{"SK", "EU", 48.7, 19.5},     // Slovakia
    CountryRow{"SL", "AF", 8.5, -11.8},     // Sierra Leone
    CountryRow{"SM", "EU", 43.9, 12.5},     // San Marino
    CountryRow{"SN", "AF", 14.5, -14.5},    // Senegal
    CountryRow{"SO", "AF", 6.0, 46.0},      // Somalia
    CountryRow{"SR", "SA", 4.0, -56.0},     // Suriname
    CountryRow{"SS", "AF", 7.0, 30.0},      // South Sudan
    CountryRow{"ST", "AF", 0.3, 6.6},       // Sao Tome and Principe
    CountryRow{"SV", "NA", 13.8, -88.9},    // El Salvador
    CountryRow{"SX", "NA", 18.0, -63.1},    // Sint Maarten (Dutch part)
    CountryRow{"SY", "AS", 35.0, 38.5},     // Syria
    CountryRow{"SZ", "AF", -26.5, 31.5},    // Eswatini
    CountryRow{"TC", "NA", 21.7, -71.8},    // Turks and Caicos Islands
    CountryRow{"TD", "AF", 15.0, 19.0},     // Chad
    CountryRow{"TF", "AN", -49.3, 69.2},    // French Southern Territories (Kerguelen)
    CountryRow{"TG", "AF", 8.5, 1.0},       // Togo
    CountryRow{"TH", "AS", 15.0, 101.0},    // Thailand
    CountryRow{"TJ", "AS", 39.0, 71.0},     // Tajikistan
    CountryRow{"TK", "OC", -9.2, -171.8},   // Tokelau
    CountryRow{"TL", "OC", -8.8, 126.0},    // Timor-Leste
    CountryRow{"TM", "AS", 39.0, 59.5},     // Turkmenistan
    CountryRow{"TN", "AF", 34.0, 9.5},      // Tunisia
    CountryRow{"TO", "OC", -21.2, -175.2},  // Tonga
    CountryRow{"TR", "AS", 39.0, 35.0},     // Turkey
    CountryRow{"TT", "NA", 10.5, -61.3},    // Trinidad and Tobago
    CountryRow{"TV", "OC", -8.5, 179.2},    // Tuvalu
    CountryRow{"TW", "AS", 23.7, 121.0},    // Taiwan
    CountryRow{"TZ", "AF", -6.5, 35.0},     // Tanzania
    CountryRow{"UA", "EU", 49.0, 32.0},     // Ukraine
    CountryRow{"UG", "AF", 1.5, 32.5},      // Uganda
    CountryRow{"UM", "OC", 19.3, 166.6},    // US Minor Outlying Islands (Wake Island)
    CountryRow{"US", "NA", 38.0, -97.0},    // United States
    CountryRow{"UY", "SA", -33.0, -56.0},   // Uruguay
    CountryRow{"UZ", "AS", 41.5, 64.5},     // Uzbekistan
    CountryRow{"VA", "EU", 41.9, 12.5},     // Holy See
    CountryRow{"VC", "NA", 13.2, -61.2},    // Saint Vincent and the Grenadines
    CountryRow{"VE", "SA", 7.0, -66.0},     // Venezuela
    CountryRow{"VG", "NA", 18.4, -64.6},    // Virgin Islands (British)
    CountryRow{"VI", "NA", 18.3, -64.8},    // Virgin Islands (US)
    CountryRow{"VN", "AS", 16.0, 106.0},    // Viet Nam
    CountryRow{"VU", "OC", -16.0, 167.0},   // Vanuatu
    CountryRow{"WF", "OC", -13.3, -176.2},  // Wallis and Futuna
    CountryRow{"WS", "OC", -13.8, -172.1},  // Samoa
    CountryRow{"XK", "EU", 42.6, 20.9},     // Kosovo (user-assigned code that registries use)
    CountryRow{"YE", "AS", 15.5, 47.5},     // Yemen
    CountryRow{"YT", "AF", -12.8, 45.2},    // Mayotte
    CountryRow{"ZA", "AF", -29.0, 25.0},    // South Africa
    CountryRow{"ZM", "AF", -14.5, 27.5},    // Zambia
    CountryRow{"ZW", "AF", -19.0, 29.8},    // Zimbabwe
};

[[nodiscard]] constexpr bool IsValidTable() {
  for (std::size_t i = 0; i < kCountries.size(); ++i) {
    const CountryRow& row = kCountries[i];
    if (row.code.size() != 2 || row.code[0] < 'A' || row.code[0] > 'Z' || row.code[1] < 'A' ||
        row.code[1] > 'Z') {
      return false;
    }
    if (i > 0 && !(kCountries[i - 1].code < row.code)) return false;  // sorted, no duplicates
    const std::string_view c = row.continent;
    if (c != "AF" && c != "AN" && c != "AS" && c != "EU" && c != "NA" && c != "OC" && c != "SA") {
      return false;
    }
    if (row.latitude < -90 || row.latitude > 90 || row.longitude < -180 || row.longitude > 180) {
      return false;
    }
  }
  return true;
}
static_assert(IsValidTable(), "kCountries: bad code, continent or coordinate, or out of order");
// The 249 ISO 3166-1 codes plus XK and AN: a row lost in an edit fails the build.
static_assert(kCountries.size() == 251);

constexpr std::int16_t kNoCountry = -1;

// Direct index from the 26 x 26 possible codes to a table row: a lookup is two subtractions
// and a load, since it runs for every located client.
constexpr std::array<std::int16_t, 26 * 26> kIndex = [] {
  std::array<std::int16_t, 26 * 26> index{};
  index.fill(kNoCountry);
  for (std::size_t i = 0; i < kCountries.size(); ++i) {
    const std::string_view code = kCountries[i].code;
    index[static_cast<std::size_t>((code[0] - 'A') * 26 + (code[1] - 'A'))] =
        static_cast<std::int16_t>(i);
  }
  return index;
}();

[[nodiscard]] constexpr int LetterIndex(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  return -1;
}

}  // namespace

std::optional<CountryInfo> LookupCountry(std::string_view iso_code) {
  if (iso_code.size() != 2) return std::nullopt;
  const int first = LetterIndex(iso_code[0]);
  const int second = LetterIndex(iso_code[1]);
  if (first < 0 || second < 0) return std::nullopt;
  const std::int16_t row = kIndex[static_cast<std::size_t>(first * 26 + second)];
  if (row == kNoCountry) return std::nullopt;
  const CountryRow& country = kCountries[static_cast<std::size_t>(row)];
  return CountryInfo{country.continent, country.latitude, country.longitude};
}

}  // namespace streamgate::geo
