#include "streamgate/backup/chunker.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "backup_test_util.hpp"

namespace streamgate::backup {
namespace {

ChunkerParams Small() {
  ChunkerParams p;
  p.min_size = 2 * 1024;
  p.avg_size = 8 * 1024;
  p.max_size = 32 * 1024;
  return p;
}

std::vector<std::string> Chunks(const FastCdc& cdc, const std::string& data) {
  std::vector<std::string> out;
  std::span<const std::uint8_t> rest(reinterpret_cast<const std::uint8_t*>(data.data()),
                                     data.size());
  while (!rest.empty()) {
    const std::size_t cut = cdc.NextCut(rest, true);
    EXPECT_GT(cut, 0U);
    out.emplace_back(reinterpret_cast<const char*>(rest.data()), cut);
    rest = rest.subspan(cut);
  }
  return out;
}

TEST(ChunkerTest, ValidatesParameters) {
  EXPECT_TRUE(ValidateChunkerParams(ChunkerParams{}));
  EXPECT_TRUE(ValidateChunkerParams(Small()));
  ChunkerParams p = Small();
  p.avg_size = 10000;
  EXPECT_FALSE(ValidateChunkerParams(p));
  p = Small();
  p.min_size = p.avg_size;
  EXPECT_FALSE(ValidateChunkerParams(p));
  p = Small();
  p.min_size = 10;
  EXPECT_FALSE(ValidateChunkerParams(p));
  p = Small();
  p.max_size = 128U * 1024 * 1024;
  EXPECT_FALSE(ValidateChunkerParams(p));
}

TEST(ChunkerTest, SizesStayWithinBoundsAndNearTheAverage) {
  const FastCdc cdc(Small());
  const std::string data = testing::RandomBytes(4 * 1024 * 1024, 1);
  const auto chunks = Chunks(cdc, data);
  std::size_t total = 0;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    total += chunks[i].size();
    EXPECT_LE(chunks[i].size(), Small().max_size);
    if (i + 1 < chunks.size()) {
      EXPECT_GE(chunks[i].size(), Small().min_size);
    }
  }
  EXPECT_EQ(total, data.size());
  const double mean = static_cast<double>(data.size()) / static_cast<double>(chunks.size());
  EXPECT_GT(mean, 0.6 * Small().avg_size);
  EXPECT_LT(mean, 1.6 * Small().avg_size);
}

TEST(ChunkerTest, CutsAreDeterministicAndDependOnTheSeed) {
  const std::string data = testing::RandomBytes(1024 * 1024, 2);
  EXPECT_EQ(Chunks(FastCdc(Small()), data), Chunks(FastCdc(Small()), data));
  ChunkerParams other = Small();
  other.seed = 42;
  EXPECT_NE(Chunks(FastCdc(Small()), data), Chunks(FastCdc(other), data));
}

TEST(ChunkerTest, AnInsertionChangesOnlyNearbyChunks) {
  const FastCdc cdc(Small());
  const std::string data = testing::RandomBytes(2 * 1024 * 1024, 3);
  std::string edited = data;
  edited.insert(data.size() / 2, "a few inserted bytes");
  const auto a = Chunks(cdc, data);
  const auto b = Chunks(cdc, edited);
  const std::set<std::string> before(a.begin(), a.end());
  std::size_t changed = 0;
  for (const auto& c : b) changed += before.contains(c) ? 0 : 1;
  EXPECT_GE(a.size(), 100U);
  EXPECT_LE(changed, 2U);
}

TEST(ChunkerTest, AsksForMoreDataUntilACutIsCertain) {
  const FastCdc cdc(Small());
  const std::string data = testing::RandomBytes(1024 * 1024, 4);
  std::span<const std::uint8_t> all(reinterpret_cast<const std::uint8_t*>(data.data()),
                                    data.size());
  // Less than min: need more unless at the end.
  EXPECT_EQ(cdc.NextCut(all.first(100), false), 0U);
  EXPECT_EQ(cdc.NextCut(all.first(100), true), 100U);
  // A cut found with partial data equals the cut found with all of it.
  const std::size_t full = cdc.NextCut(all, false);
  ASSERT_GT(full, 0U);
  EXPECT_EQ(cdc.NextCut(all.first(full), false), full);
  // Empty input.
  EXPECT_EQ(cdc.NextCut({}, true), 0U);
}

TEST(ChunkerTest, UniformDataCutsAtMaxSize) {
  const FastCdc cdc(Small());
  const std::string zeros(100 * 1024, '\0');
  const auto chunks = Chunks(cdc, zeros);
  ASSERT_GE(chunks.size(), 3U);
  for (std::size_t i = 0; i + 1 < chunks.size(); ++i) EXPECT_EQ(chunks[i].size(), 32U * 1024);
}

}  // namespace
}  // namespace streamgate::backup
