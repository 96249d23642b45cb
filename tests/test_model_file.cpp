#include <gtest/gtest.h>

#include <cstring>

#include "dalenet/error.hpp"
#include "dalenet/io.hpp"
#include "helpers.hpp"

using namespace dalenet;
using namespace dalenet::test;

namespace {
Model sample_model(bool with_mask_and_state) {
  NetworkSpec spec;
  spec.input = 12;
  spec.hidden = {7};
  spec.output = 3;
  spec.hidden_activation = Activation::sigmoid2;
  spec.inhibitory_fraction = 0.3;
  Model m;
  m.net = make_network(spec);
  Rng rng(9);
  if (with_mask_and_state) {
    auto& p = m.net.projections[0];
    p.mask.resize(p.weight.rows(), p.weight.cols());
    for (Eigen::Index i = 0; i < p.mask.size(); ++i) p.mask.data()[i] = rng.uniform() < 0.5 ? 1 : 0;
    m.net.layers[1].threshold = Eigen::VectorXf::LinSpaced(7, -1.0F, 1.0F);
    m.net.layers[1].rate = Eigen::VectorXf::Constant(7, 0.1F);
  }
  init_weights(m.net, InitSpec{}, rng);
  m.info = {{"rule", "bp"}, {"seed", 9}};
  return m;
}

std::string model_error(const std::vector<std::uint8_t>& bytes) {
  try {
    parse_model(bytes, "m.safetensors");
  } catch (const ModelFileError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected ModelFileError";
  return "";
}

// Splits a saved file into its header JSON and data section, for crafting corrupt variants.
struct Parts {
  nlohmann::json header;
  std::vector<std::uint8_t> data;
};
Parts split(const std::vector<std::uint8_t>& bytes) {
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  Parts p;
  p.header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  p.data.assign(bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n), bytes.end());
  return p;
}
std::vector<std::uint8_t> join(const nlohmann::json& header, const std::vector<std::uint8_t>& data) {
  const std::string h = header.dump();
  const std::uint64_t n = h.size();
  std::vector<std::uint8_t> out(8 + h.size() + data.size());
  std::memcpy(out.data(), &n, 8);
  std::copy(h.begin(), h.end(), out.begin() + 8);
  std::copy(data.begin(), data.end(), out.begin() + 8 + static_cast<std::ptrdiff_t>(h.size()));
  return out;
}
}  // namespace

TEST(ModelFile, RoundTripIsExact) {
  TempDir dir;
  for (bool extra : {false, true}) {
    const Model m = sample_model(extra);
    save_model(dir / "m.safetensors", m);
    const Model r = load_model(dir / "m.safetensors");
    ASSERT_EQ(r.net.layers.size(), m.net.layers.size());
    for (std::size_t l = 0; l < m.net.projections.size(); ++l) {
      EXPECT_EQ(r.net.projections[l].weight, m.net.projections[l].weight);
      EXPECT_EQ(r.net.projections[l].bias, m.net.projections[l].bias);
      EXPECT_EQ(r.net.projections[l].mask, m.net.projections[l].mask);
    }
    EXPECT_EQ(r.net.layers[1].threshold, m.net.layers[1].threshold);
    EXPECT_EQ(r.net.layers[1].populations.size(), 2u);
    EXPECT_EQ(r.net.layers[1].populations[1].type, NeuronType::inhibitory);
    EXPECT_EQ(r.net.layers[1].activation, Activation::sigmoid2);
    EXPECT_EQ(r.info["seed"], 9);
    // Saving the loaded model reproduces the file byte for byte.
    save_model(dir / "again.safetensors", r);
    EXPECT_EQ(read_bytes(dir / "m.safetensors"), read_bytes(dir / "again.safetensors"));
  }
}

TEST(ModelFile, LayoutIsSafetensors) {
  TempDir dir;
  save_model(dir / "m.safetensors", sample_model(false));
  const auto bytes = read_bytes(dir / "m.safetensors");
  const Parts p = split(bytes);
  EXPECT_EQ((8 + bytes.size() - p.data.size() - 8) % 8, 0u);  // data aligned to 8 bytes
  EXPECT_EQ(p.header["projections.0.weight"]["dtype"], "F32");
  EXPECT_EQ(p.header["projections.0.weight"]["shape"], nlohmann::json({7, 12}));
  EXPECT_EQ(p.header["__metadata__"]["format"], "dalenet");
  const auto meta = nlohmann::json::parse(p.header["__metadata__"]["dalenet"].get<std::string>());
  EXPECT_EQ(meta["format_version"], kModelFormatVersion);
  EXPECT_EQ(meta["architecture"]["layers"][1]["populations"][1]["type"], "I");
}

TEST(ModelFile, TruncatedFilesAreRejected) {
  TempDir dir;
  save_model(dir / "m.safetensors", sample_model(true));
  const auto bytes = read_bytes(dir / "m.safetensors");
  for (std::size_t keep : {std::size_t{0}, std::size_t{5}, std::size_t{100}, bytes.size() - 1}) {
    const std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(keep));
    const auto msg = model_error(cut);
    EXPECT_TRUE(has(msg, "m.safetensors")) << msg;
  }
}

TEST(ModelFile, HugeHeaderLengthRefusedBeforeAllocating) {
  std::vector<std::uint8_t> bytes(10, 0);
  const std::uint64_t claim = 2ULL << 30;  // 2 GiB header in a 10-byte file
  std::memcpy(bytes.data(), &claim, 8);
  EXPECT_TRUE(has(model_error(bytes), "header length"));
  const std::uint64_t modest = 1000;
  std::memcpy(bytes.data(), &modest, 8);
  EXPECT_TRUE(has(model_error(bytes), "truncated"));
}

TEST(ModelFile, CorruptHeadersAreRejectedWithReasons) {
  TempDir dir;
  save_model(dir / "m.safetensors", sample_model(false));
  const Parts p = split(read_bytes(dir / "m.safetensors"));

  std::vector<std::uint8_t> garbage(8);
  const std::string junk = "{not json";
  const std::uint64_t n = junk.size();
  std::memcpy(garbage.data(), &n, 8);
  garbage.insert(garbage.end(), junk.begin(), junk.end());
  EXPECT_TRUE(has(model_error(garbage), "not valid JSON"));

  auto h = p.header;
  h["projections.0.weight"]["dtype"] = "F16";
  EXPECT_TRUE(has(model_error(join(h, p.data)), "dtype"));

  h = p.header;
  h["projections.0.weight"]["shape"] = {12, 7};
  EXPECT_TRUE(has(model_error(join(h, p.data)), "shape"));

  h = p.header;
  h["projections.0.weight"]["data_offsets"] = {0, 1u << 30};
  EXPECT_TRUE(has(model_error(join(h, p.data)), "outside"));

  h = p.header;
  h.erase("projections.0.bias");
  EXPECT_TRUE(has(model_error(join(h, p.data)), "gap"));

  h = p.header;
  h.erase("__metadata__");
  EXPECT_TRUE(has(model_error(join(h, p.data)), "__metadata__"));

  h = p.header;
  auto meta = nlohmann::json::parse(h["__metadata__"]["dalenet"].get<std::string>());
  meta["format_version"] = 99;
  h["__metadata__"]["dalenet"] = meta.dump();
  EXPECT_TRUE(has(model_error(join(h, p.data)), "format_version 99"));

  h = p.header;
  meta = nlohmann::json::parse(h["__metadata__"]["dalenet"].get<std::string>());
  meta["architecture"]["layers"][1]["populations"][0]["size"] = 1 << 23;  // claims a huge layer
  h["__metadata__"]["dalenet"] = meta.dump();
  EXPECT_TRUE(has(model_error(join(h, p.data)), "shape"));

  auto data = p.data;
  data.push_back(0);
  EXPECT_TRUE(has(model_error(join(p.header, data)), "trailing"));
}

TEST(ModelFile, NonFiniteWeightsAreRejected) {
  Model m = sample_model(false);
  TempDir dir;
  save_model(dir / "m.safetensors", m);
  Parts p = split(read_bytes(dir / "m.safetensors"));
  const float nan = std::nanf("");
  const auto off = p.header["projections.0.weight"]["data_offsets"][0].get<std::size_t>();
  std::memcpy(p.data.data() + off, &nan, 4);
  EXPECT_TRUE(has(model_error(join(p.header, p.data)), "NaN"));
  // And save refuses to write one.
  m.net.projections[0].weight(0, 0) = nan;
  EXPECT_THROW(save_model(dir / "nan.safetensors", m), ModelFileError);
  EXPECT_FALSE(std::filesystem::exists(dir / "nan.safetensors"));
}

TEST(AtomicWrite, FailureLeavesNoFileAndNamesThePath) {
  try {
    write_file_atomic("/nonexistent-dir/x/out.json", std::string("{}"));
    FAIL();
  } catch (const IoError& e) {
    EXPECT_TRUE(has(e.what(), "/nonexistent-dir/x/out.json")) << e.what();
  }
  TempDir dir;
  write_file_atomic(dir / "a.txt", std::string("one"));
  write_file_atomic(dir / "a.txt", std::string("two"));
  EXPECT_EQ(read_bytes(dir / "a.txt"), (std::vector<std::uint8_t>{'t', 'w', 'o'}));
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1);  // no temp files left behind
}
