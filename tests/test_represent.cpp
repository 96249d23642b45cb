// Representation measures against closed forms and synthetic data with known answers.
#include <gtest/gtest.h>

#include <cmath>

#include "dalenet/error.hpp"
#include "dalenet/represent.hpp"
#include "dalenet/rng.hpp"
#include "helpers.hpp"

using namespace dalenet;
using namespace dalenet::test;

TEST(Represent, MoransIOnKnownImages) {
  std::vector<float> checker(36), ramp(36);
  for (int r = 0; r < 6; ++r)
    for (int c = 0; c < 6; ++c) {
      checker[static_cast<std::size_t>(r * 6 + c)] = static_cast<float>((r + c) % 2);
      ramp[static_cast<std::size_t>(r * 6 + c)] = static_cast<float>(c);
    }
  EXPECT_NEAR(morans_i(checker.data(), 6, 6), -1.0, 1e-12);  // every neighbour pair differs
  EXPECT_GT(morans_i(ramp.data(), 6, 6), 0.7);               // smooth
  // White noise: expectation -1/(n-1), averaged over many images.
  Rng rng(3);
  double sum = 0.0;
  std::vector<float> noise(28 * 28);
  for (int k = 0; k < 200; ++k) {
    for (auto& v : noise) v = static_cast<float>(rng.normal());
    sum += morans_i(noise.data(), 28, 28);
  }
  EXPECT_NEAR(sum / 200, -1.0 / (28 * 28 - 1), 0.01);
  std::vector<float> flat(9, 2.0F);
  EXPECT_TRUE(std::isnan(morans_i(flat.data(), 3, 3)));
}

TEST(Represent, SelectivityAndParticipationRatioClosedForms) {
  Eigen::MatrixXd m(3, 4);
  m << 1, 0, 0, 0,  // responds to one class only: CSI 1
      1, 1, 1, 1,   // no preference: CSI 0
      4, 1, 1, 1;   // (4 - 1) / (4 + 1)
  const auto csi = class_selectivity(m);
  EXPECT_DOUBLE_EQ(csi[0], 1.0);
  EXPECT_DOUBLE_EQ(csi[1], 0.0);
  EXPECT_DOUBLE_EQ(csi[2], 0.6);
  EXPECT_NEAR(participation_ratio(Eigen::VectorXd::Constant(7, 2.5)), 7.0, 1e-12);  // k equal eigenvalues: k
  Eigen::VectorXd one = Eigen::VectorXd::Zero(5);
  one(0) = 3.0;
  EXPECT_NEAR(participation_ratio(one), 1.0, 1e-12);
}

TEST(Represent, AlphaRecoversTheExponentOfASyntheticPowerLawSpectrum) {
  // Exact spectrum.
  Eigen::VectorXd l(400);
  for (int n = 1; n <= 400; ++n) l(n - 1) = 3.0 * std::pow(n, -1.3);
  EXPECT_NEAR(power_law_exponent(l, 10, 200), 1.3, 1e-9);
  // Responses whose covariance has the spectrum n^-1: the estimate from finite samples, through
  // covariance_spectrum, recovers it over the fitted ranks.
  const int units = 120, samples = 30000;
  Eigen::MatrixXf R(units, samples);
  Rng rng(11);
  for (int s = 0; s < samples; ++s)
    for (int u = 0; u < units; ++u) R(u, s) = static_cast<float>(rng.normal() * std::pow(u + 1, -0.5));
  const Eigen::VectorXd spec = covariance_spectrum(R);
  EXPECT_NEAR(power_law_exponent(spec, 10, 60), 1.0, 0.05);
  EXPECT_GT(spec(0), spec(1));
}

TEST(Represent, PngIsAValidGreyscaleImage) {
  TempDir dir;
  std::vector<std::uint8_t> px(12 * 5);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(i * 4);
  write_png_gray(dir / "x.png", 12, 5, px);
  const auto b = read_bytes(dir / "x.png");
  ASSERT_GT(b.size(), 33u);
  EXPECT_EQ(std::vector<std::uint8_t>(b.begin(), b.begin() + 8),
            (std::vector<std::uint8_t>{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}));
  EXPECT_EQ(b[16 + 3], 12);  // IHDR width (big-endian, low byte)
  EXPECT_EQ(b[20 + 3], 5);   // height
  EXPECT_THROW(write_png_gray(dir / "y.png", 3, 3, px), Error);
}

TEST(Cli, RepresentWritesReportAndGrid) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 800, 200);
  const CliRun t =
      run_cli("train --quiet --set \"data.dataset='" + ds +
              "'\" --set data.validation=100 --set network.hidden=[30] --set train.epochs=3 --out " + (dir / "run"));
  ASSERT_EQ(t.code, 0) << t.output;
  const CliRun r =
      run_cli("represent --model " + (dir / "run/model.safetensors") + " --data idx:" + (dir / "test-images") + "," +
              (dir / "test-labels") + " --png " + (dir / "rf.png") + " --out " + (dir / "rep.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto rep = nlohmann::json::parse(read_bytes(dir / "rep.json"));
  EXPECT_EQ(rep["format"], "dalenet-representation");
  EXPECT_EQ(rep["units"], 30);
  EXPECT_GT(rep["participation_ratio"].get<double>(), 1.0);
  EXPECT_GT(read_bytes(dir / "rf.png").size(), 100u);
}
