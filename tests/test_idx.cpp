#include <gtest/gtest.h>

#include "dalenet/data.hpp"
#include "dalenet/error.hpp"
#include "helpers.hpp"

using namespace dalenet;
using namespace dalenet::test;

namespace {
// Expects `fn` to throw DataError whose message contains every fragment.
template <class F>
void expect_data_error(F&& fn, std::initializer_list<std::string> fragments) {
  try {
    fn();
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    for (const auto& f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
  }
}
std::vector<std::uint8_t> pixels(std::size_t n) {
  std::vector<std::uint8_t> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(i * 31);
  return p;
}
}  // namespace

TEST(Idx, ReadsRawAndGzipIdentically) {
  TempDir dir;
  const auto bytes = idx_images_bytes(3, 2, 4, pixels(24));
  write_bytes(dir / "img", bytes);
  write_gz(dir / "img.gz", bytes);
  const IdxImages a = read_idx_images(dir / "img");
  const IdxImages b = read_idx_images(dir / "img.gz");
  EXPECT_EQ(a.count, 3u);
  EXPECT_EQ(a.rows, 2);
  EXPECT_EQ(a.cols, 4);
  EXPECT_EQ(a.pixels, pixels(24));
  EXPECT_EQ(b.pixels, a.pixels);
  write_bytes(dir / "lab", idx_labels_bytes({1, 2, 3}));
  EXPECT_EQ(read_idx_labels(dir / "lab"), (std::vector<std::uint8_t>{1, 2, 3}));
}

TEST(Idx, RejectsWrongMagic) {
  TempDir dir;
  auto bytes = idx_images_bytes(1, 2, 2, pixels(4));
  bytes[0] = 0x1f;
  write_bytes(dir / "img", bytes);
  expect_data_error([&] { read_idx_images(dir / "img"); }, {dir / "img", "magic"});
  write_bytes(dir / "lab", idx_labels_bytes({1}));
  expect_data_error([&] { read_idx_images(dir / "lab"); }, {"dimensions", "expected 3"});
}

TEST(Idx, RejectsTruncatedAndOverlongFiles) {
  TempDir dir;
  auto bytes = idx_images_bytes(3, 2, 2, pixels(12));
  bytes.resize(bytes.size() - 1);
  write_bytes(dir / "short", bytes);
  expect_data_error([&] { read_idx_images(dir / "short"); }, {dir / "short", "truncated"});
  auto longer = idx_images_bytes(3, 2, 2, pixels(13));
  write_bytes(dir / "long", longer);
  expect_data_error([&] { read_idx_images(dir / "long"); }, {"trailing"});
  write_bytes(dir / "tiny", {0, 0, 8});
  expect_data_error([&] { read_idx_images(dir / "tiny"); }, {"too short"});
  write_bytes(dir / "hdr", {0, 0, 8, 3, 0, 0, 0, 1});
  expect_data_error([&] { read_idx_images(dir / "hdr"); }, {"truncated inside its header"});
}

TEST(Idx, HugeClaimedCountInTinyFileIsRefusedWithoutAllocating) {
  TempDir dir;
  // Claims 4e9 images of 4096x4096 in a 20-byte file.
  auto bytes = idx_images_bytes(4000000000u, 4096, 4096, {1, 2, 3, 4});
  write_bytes(dir / "bomb", bytes);
  expect_data_error([&] { read_idx_images(dir / "bomb"); }, {"truncated"});
}

TEST(Idx, RejectsTruncatedGzip) {
  TempDir dir;
  write_gz(dir / "ok.gz", idx_images_bytes(50, 8, 8, pixels(3200)));
  auto gz = read_bytes(dir / "ok.gz");
  gz.resize(gz.size() / 2);
  write_bytes(dir / "cut.gz", gz);
  expect_data_error([&] { read_idx_images(dir / "cut.gz"); }, {dir / "cut.gz"});
  write_bytes(dir / "notgz.gz", {1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_THROW(read_idx_images(dir / "notgz.gz"), DataError);
}

TEST(Idx, MissingFileNamesThePath) {
  expect_data_error([] { read_idx_images("/nonexistent/dalenet/file"); }, {"/nonexistent/dalenet/file"});
}

TEST(Dataset, PairChecksCountsAndLabels) {
  TempDir dir;
  write_bytes(dir / "img", idx_images_bytes(3, 2, 2, pixels(12)));
  write_bytes(dir / "lab2", idx_labels_bytes({1, 2}));
  expect_data_error([&] { load_idx_pair(dir / "img", dir / "lab2", "x"); }, {"count mismatch", "3 images", "2 labels"});
  write_bytes(dir / "lab_bad", idx_labels_bytes({1, 2, 12}));
  expect_data_error([&] { load_idx_pair(dir / "img", dir / "lab_bad", "x"); }, {"label 12", "index 2"});
  write_bytes(dir / "lab", idx_labels_bytes({1, 2, 3}));
  const Dataset d = load_idx_pair(dir / "img", dir / "lab", "x");
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(d.sources.size(), 2u);
  EXPECT_EQ(d.sources[0].sha256.size(), 64u);
}

TEST(Dataset, NamedSetMissingSaysHowToFetch) {
  TempDir dir;
  expect_data_error([&] { load_dataset("mnist:train", dir.path().string()); }, {"dalenet data fetch mnist"});
  expect_data_error([&] { load_dataset("cifar:train", dir.path().string()); }, {"unknown data set 'cifar'"});
  expect_data_error([&] { load_dataset("mnist:valid", dir.path().string()); }, {"'train' or 'test'"});
}

TEST(Dataset, NamedSetWithWrongHashIsRejected) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "mnist");
  write_bytes(dir / "mnist/train-images-idx3-ubyte", idx_images_bytes(2, 28, 28, pixels(2 * 784)));
  write_bytes(dir / "mnist/train-labels-idx1-ubyte", idx_labels_bytes({1, 2}));
  expect_data_error([&] { load_dataset("mnist:train", dir.path().string()); }, {"SHA-256", "train-images-idx3-ubyte"});
}

TEST(Dataset, ValidationSplitIsDisjointCompleteAndSeeded) {
  const auto t = make_synthetic_task(100, 2, 2, 10, 3);
  Dataset d;
  d.name = "syn";
  d.rows = d.cols = 2;
  d.pixels = t.pixels;
  d.labels = t.labels;
  const auto a = split_validation(d, 20, 5);
  const auto b = split_validation(d, 20, 5);
  const auto c = split_validation(d, 20, 6);
  EXPECT_EQ(a.train.size(), 80u);
  EXPECT_EQ(a.validation.size(), 20u);
  EXPECT_EQ(a.validation.pixels, b.validation.pixels);
  EXPECT_NE(a.validation.pixels, c.validation.pixels);
  EXPECT_THROW(split_validation(d, 100, 1), InputError);
}

TEST(Dataset, FillBatchScalesToUnitInterval) {
  Dataset d;
  d.rows = 1;
  d.cols = 3;
  d.pixels = {0, 255, 51, 255, 0, 102};
  d.labels = {0, 1};
  Eigen::MatrixXf X;
  const std::vector<std::uint32_t> idx = {1, 0};
  fill_batch(d, idx, X);
  ASSERT_EQ(X.rows(), 3);
  ASSERT_EQ(X.cols(), 2);
  EXPECT_FLOAT_EQ(X(0, 0), 1.0F);
  EXPECT_FLOAT_EQ(X(2, 0), 0.4F);
  EXPECT_FLOAT_EQ(X(1, 1), 1.0F);
  EXPECT_FLOAT_EQ(X(2, 1), 0.2F);
}

// fill_batch_shifted against a direct reading of its definition: output pixel (r, c) is image
// pixel (r - dy, c - dx), 0 outside; every shift in [-5, 5]^2 on a 3 x 4 image, so shifts past
// the edge (all zero) are covered too.
TEST(Dataset, FillBatchShiftedTranslatesAndZeroFills) {
  Dataset d;
  d.rows = 3;
  d.cols = 4;
  for (int i = 0; i < 24; ++i) d.pixels.push_back(static_cast<std::uint8_t>(10 * (i + 1)));
  d.labels = {0, 1};
  const std::vector<std::uint32_t> idx = {1, 0};
  Eigen::MatrixXf plain, X;
  fill_batch(d, idx, plain);
  for (int dy = -5; dy <= 5; ++dy)
    for (int dx = -5; dx <= 5; ++dx) {
      const std::vector<ImageShift> shifts = {{dx, dy}, {-dx, dy}};
      fill_batch_shifted(d, idx, shifts, X);
      ASSERT_EQ(X.rows(), 12);
      ASSERT_EQ(X.cols(), 2);
      for (int k = 0; k < 2; ++k)
        for (int r = 0; r < 3; ++r)
          for (int c = 0; c < 4; ++c) {
            const int sr = r - shifts[static_cast<std::size_t>(k)].dy;
            const int sc = c - shifts[static_cast<std::size_t>(k)].dx;
            const float want = (sr >= 0 && sr < 3 && sc >= 0 && sc < 4) ? plain(sr * 4 + sc, k) : 0.0F;
            EXPECT_EQ(X(r * 4 + c, k), want) << "dx " << dx << " dy " << dy << " k " << k << " r " << r << " c " << c;
          }
    }
  // The zero shift is fill_batch.
  fill_batch_shifted(d, idx, std::vector<ImageShift>(2), X);
  EXPECT_EQ(X, plain);
  EXPECT_THROW(fill_batch_shifted(d, idx, std::vector<ImageShift>(1), X), InputError);
}
