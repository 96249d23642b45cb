// H6 and H6b (docs/RULE.md): retinotopic potential connectivity and local inhibition pools.
// The window geometry against a brute-force enumeration, each pool's fixed point and its
// gradient against central differences, the bio rule's training inside the windows (no synapse
// outside them, ever), the model file, the audit's in-field counts and the configuration errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include "dalenet/analyze.hpp"
#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"
#include "dalenet/io.hpp"
#include "dalenet/train.hpp"
#include "helpers.hpp"
#include "rules/kmeans_prototypes.hpp"

using namespace dalenet;
using namespace dalenet::test;

namespace {

// The pixels of window k, written out from the definition: corners on the grid {0, s, 2s, ...}
// that keep the square inside the image, row-major.
std::set<Eigen::Index> window_pixels(int side, int window, int stride, int k) {
  std::vector<std::pair<int, int>> corners;
  for (int top = 0; top + window <= side; top += stride)
    for (int left = 0; left + window <= side; left += stride) corners.emplace_back(top, left);
  std::set<Eigen::Index> pixels;
  if (k >= static_cast<int>(corners.size())) return pixels;
  const auto [top, left] = corners[static_cast<std::size_t>(k)];
  for (int y = top; y < top + window; ++y)
    for (int x = left; x < left + window; ++x) pixels.insert(static_cast<Eigen::Index>(y) * side + x);
  return pixels;
}

// A network with one hidden layer of 8 E units in `pools` pools and 2 interneurons, 6 inputs.
Network pooled_net(Competition c, int pools, Rng& rng) {
  NetworkSpec spec;
  spec.input = 6;
  spec.hidden = {10};
  spec.output = 3;
  spec.hidden_activation = Activation::identity;
  spec.inhibitory_fraction = 0.2;
  Network net = make_network(spec);
  InitSpec init;
  init.kind = InitKind::uniform;
  init.sign = SignInit::per_neuron;
  init_weights(net, init, rng);
  for (auto& p : net.projections)
    for (Eigen::Index i = 0; i < p.bias.size(); ++i) p.bias(i) = static_cast<float>(rng.uniform(-0.3, 0.3));
  net.projections[0].efficacy = Efficacy::log_normalized;
  net.projections[0].efficacy_floor = 1e-3F;
  net.layers[1].competition = c;
  net.layers[1].kwta_k = 1;
  net.layers[1].inhibition_gain = 0.5;
  net.layers[1].inhibition_pools = pools;
  net.projections[0].weight.bottomRows(2).setZero();
  net.projections[1].weight.rightCols(2).setZero();
  return net;
}

double loss_of(const Network& net, const Eigen::MatrixXf& X, const std::vector<std::uint8_t>& y) {
  ForwardCache c;
  forward(net, X, c);
  return softmax_cross_entropy(c.logits(), y, Reduction::sum, nullptr);
}

TrainConfig windowed_config(const std::string& ds, std::vector<std::string> extra = {}) {
  // 8 x 8 images, windows of 4 with stride 2: 9 windows; N_E = 36 (hidden 45, 9 interneurons).
  std::vector<std::string> sets = {"data.dataset='" + ds + "'",
                                   "data.validation=200",
                                   "network.hidden=[45]",
                                   "network.inhibitory_fraction=0.2",
                                   "network.init=uniform",
                                   "train.rule=bio",
                                   "train.epochs=3",
                                   "train.batch=50",
                                   "train.threads=1",
                                   "bio.hidden_update=additive",
                                   "bio.structural_interval=10",
                                   "bio.eta_hidden=0.05",
                                   "bio.window=4",
                                   "bio.window_stride=2",
                                   "bio.local_inhibition=true"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return parse_config("", "test", sets);
}

}  // namespace

TEST(ReceptiveFields, PotentialSynapsesAreExactlyTheNeuronsWindow) {
  for (const auto& [side, window, stride] : {std::tuple{28, 12, 4}, std::tuple{28, 14, 7}, std::tuple{8, 4, 3}}) {
    ReceptiveFields rf;
    rf.image_side = side;
    rf.window = window;
    rf.stride = stride;
    rf.units_per_window = 3;
    int windows = 0;
    while (!window_pixels(side, window, stride, windows).empty()) ++windows;
    ASSERT_EQ(rf.count(), windows) << side << "/" << window << "/" << stride;
    for (Eigen::Index post = 0; post < 3 * windows + 2; ++post) {
      const auto expected = window_pixels(side, window, stride, static_cast<int>(post / 3));
      for (Eigen::Index pre = 0; pre < static_cast<Eigen::Index>(side) * side; ++pre)
        ASSERT_EQ(rf.potential(post, pre), expected.count(pre) == 1) << "neuron " << post << " pixel " << pre;
    }
  }
  EXPECT_TRUE(ReceptiveFields{}.potential(123, 456));  // none: every synapse is potential
}

// Each pool's level solves its own fixed point I_q = g sum_{j in q} max(0, z_j - I_q), and every
// interneuron carries its pool's level.
TEST(LocalInhibition, EachPoolSolvesItsOwnFixedPoint) {
  Rng rng(3);
  const Network net = pooled_net(Competition::feedback_inhibition, 2, rng);
  const Eigen::MatrixXf X = Eigen::MatrixXf::Random(6, 20).cwiseAbs();
  ForwardCache c;
  forward(net, X, c);
  ASSERT_EQ(c.inhibition[1].size(), 2 * X.cols());
  for (Eigen::Index b = 0; b < X.cols(); ++b)
    for (Eigen::Index q = 0; q < 2; ++q) {
      const float I = c.inhibition[1](b * 2 + q);
      const float pooled = c.pre[1].col(b).segment(q * 4, 4).cwiseMax(0.0F).sum();
      EXPECT_NEAR(I, 0.5F * pooled, 1e-5 * (1.0 + I));
      EXPECT_EQ(c.act[1](8 + q, b), I) << "interneuron " << q << " carries its pool's level";
    }
  // One pool is the whole layer: the same levels as a layer without pools.
  Rng rng2(3);
  Network one = pooled_net(Competition::feedback_inhibition, 1, rng2);
  ForwardCache c1;
  forward(one, X, c1);
  one.layers[1].inhibition_pools = 2;
  ForwardCache c2;
  forward(one, X, c2);
  EXPECT_NE(c1.logits(), c2.logits()) << "two pools compete differently from one";
}

class PooledGradient : public ::testing::TestWithParam<Competition> {};

TEST_P(PooledGradient, InputAndWeightGradientsMatchFiniteDifferences) {
  Rng rng(11);
  const Network net = pooled_net(GetParam(), 2, rng);
  Eigen::MatrixXf X(6, 5);
  for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = static_cast<float>(rng.uniform(0.0, 1.0));
  const std::vector<std::uint8_t> y = {0, 1, 2, 1, 0};
  ForwardCache cache;
  forward(net, X, cache);
  Eigen::MatrixXf dlogits;
  softmax_cross_entropy(cache.logits(), y, Reduction::sum, &dlogits);
  Gradients g;
  Eigen::MatrixXf dx;
  BackwardScratch scratch;
  backward(net, cache, dlogits, &g, &dx, scratch);
  const float h = 1e-3F;
  double diff2 = 0.0, sum2 = 0.0;
  int checked = 0;
  // Skips a coordinate whose +-h moves a kink: an active set or a k-WTA threshold unit.
  const auto check = [&](double analytic, const Network& np, const Eigen::MatrixXf& Xp, const Network& nm,
                         const Eigen::MatrixXf& Xm) {
    ForwardCache cp, cm;
    forward(np, Xp, cp);
    forward(nm, Xm, cm);
    if (((cp.pre[1].array() > 0) != (cm.pre[1].array() > 0)).any()) return;
    if ((cp.threshold_unit[1].array() != cm.threshold_unit[1].array()).any()) return;
    const double numeric = (loss_of(np, Xp, y) - loss_of(nm, Xm, y)) / (2.0 * h);
    diff2 += (analytic - numeric) * (analytic - numeric);
    sum2 += (analytic + numeric) * (analytic + numeric);
    ++checked;
  };
  for (Eigen::Index k = 0; k < X.size(); ++k) {
    Eigen::MatrixXf Xp = X, Xm = X;
    Xp.data()[k] += h;
    Xm.data()[k] -= h;
    check(dx.data()[k], net, Xp, net, Xm);
  }
  for (Eigen::Index k = 0; k < net.projections[0].bias.size(); ++k) {
    Network plus = net, minus = net;
    plus.projections[0].bias(k) += h;
    minus.projections[0].bias(k) -= h;
    check(g.bias[0](k), plus, X, minus, X);
  }
  EXPECT_GT(checked, 25);
  EXPECT_LT(std::sqrt(diff2 / sum2), 5e-3);
}

INSTANTIATE_TEST_SUITE_P(Competitions, PooledGradient,
                         ::testing::Values(Competition::feedback_inhibition, Competition::kwta),
                         [](const ::testing::TestParamInfo<Competition>& p) { return to_string(p.param); });

// The bio rule with windows and local pools: it learns, and no synapse outside a neuron's window
// exists at any time, regrowth included; the model file keeps the fields and the pools.
TEST(ReceptiveFields, TheBioRuleLearnsInsideTheWindowsOnly) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 3000, 500);
  TrainOptions opts;
  opts.out_dir = dir / "run";
  const TrainOutcome r = train(windowed_config(ds, {"bio.regrowth=0.01", "bio.silence_factor=0.3"}), opts);
  EXPECT_GT(r.results["metrics"]["test"]["accuracy"].get<double>(), 0.8);  // chance: 0.1
  EXPECT_EQ(r.results["metrics"]["counters"]["sign_flips"], 0);
  EXPECT_GT(r.results["metrics"]["counters"]["creations"].get<std::int64_t>(), 0);
  const Network& net = r.model.net;
  const Projection& in = net.projections[0];
  ASSERT_TRUE(in.receptive_fields.enabled());
  EXPECT_EQ(in.receptive_fields.count(), 9);
  EXPECT_EQ(in.receptive_fields.units_per_window, 4);
  EXPECT_EQ(net.layers[1].inhibition_pools, 9);
  EXPECT_FLOAT_EQ(in.efficacy_floor, 0.3F / 16.0F);  // silence_factor over the potential fan-in
  std::int64_t outside = 0;
  for (Eigen::Index i = 0; i < in.num_post(); ++i)
    for (Eigen::Index j = 0; j < in.num_pre(); ++j)
      if (!in.receptive_fields.potential(i, j)) outside += in.mask(i, j) != 0 || in.weight(i, j) != 0.0F;
  EXPECT_EQ(outside, 0);
  EXPECT_EQ(r.results["metrics"]["epochs"][0]["rule"]["potential_input_synapses"], 36 * 16);

  const Model m = load_model(dir / "run/model.safetensors");
  EXPECT_EQ(m.net.layers[1].inhibition_pools, 9);
  EXPECT_EQ(m.net.projections[0].receptive_fields.window, 4);
  EXPECT_EQ(m.net.projections[0].receptive_fields.stride, 2);
  const Eigen::MatrixXf X = Eigen::MatrixXf::Random(64, 10).cwiseAbs();
  EXPECT_EQ(predict_logits(m.net, X), predict_logits(net, X));

  // A file whose synapse lies outside its neuron's field is refused, naming the reason.
  Model bad = m;
  bad.net.projections[0].mask(0, 63) = 1;
  bad.net.projections[0].weight(0, 63) = 0.5F;
  EXPECT_THROW(save_model(dir / "bad.safetensors", bad), ModelFileError);
}

// A window that every image leaves blank: its neurons fire on their thresholds alone (d = 0) and
// must neither diverge nor learn from pixels outside their window.
TEST(ReceptiveFields, ABlankWindowDoesNotDiverge) {
  TempDir dir;
  auto task = make_synthetic_task(3300, 8, 8, 10, 9);
  for (std::size_t n = 0; n < 3300; ++n)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) task.pixels[n * 64 + static_cast<std::size_t>(y * 8 + x)] = 0;
  const std::vector<std::uint8_t> train_px(task.pixels.begin(), task.pixels.begin() + 3000 * 64);
  const std::vector<std::uint8_t> test_px(task.pixels.begin() + 3000 * 64, task.pixels.end());
  const std::vector<std::uint8_t> train_lb(task.labels.begin(), task.labels.begin() + 3000);
  const std::vector<std::uint8_t> test_lb(task.labels.begin() + 3000, task.labels.end());
  write_bytes(dir / "tr-i", idx_images_bytes(3000, 8, 8, train_px));
  write_bytes(dir / "tr-l", idx_labels_bytes(train_lb));
  write_bytes(dir / "te-i", idx_images_bytes(300, 8, 8, test_px));
  write_bytes(dir / "te-l", idx_labels_bytes(test_lb));
  const std::string ds = "idx:" + (dir / "tr-i") + "," + (dir / "tr-l") + ";" + (dir / "te-i") + "," + (dir / "te-l");
  // Windows of 4 with stride 4: window 0 is the blank top-left quarter; multiplicative H3.
  for (const char* update : {"bio.hidden_update=multiplicative", "bio.hidden_update=additive"}) {
    const TrainOutcome r = train(windowed_config(ds, {"bio.window_stride=4", "network.hidden=[40]", update}), {});
    EXPECT_TRUE(r.model.net.projections[0].weight.allFinite()) << update;
    EXPECT_GT(r.results["metrics"]["test"]["accuracy"].get<double>(), 0.5) << update;
  }
}

TEST(ReceptiveFields, AuditCountsSilenceInsideTheFields) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 1000, 100);
  const TrainOutcome r = train(windowed_config(ds, {"bio.silence_factor=0.3", "train.epochs=2"}), {});
  const Projection& in = r.model.net.projections[0];
  // Brute force: silent (strength exactly 0) among the E rows' synapses inside their fields.
  WeightMatrix e;
  in.effective_weight(e);
  std::int64_t silent = 0, potential = 0;
  for (Eigen::Index i = 0; i < 36; ++i)
    for (Eigen::Index j = 0; j < 64; ++j)
      if (in.receptive_fields.potential(i, j)) {
        ++potential;
        silent += e(i, j) == 0.0F;
      }
  const nlohmann::json a = analyze_weights(r.model.net, {}, WeightQuantity::strength, {});
  const auto& sp = a.at(0).at("sparsity");
  EXPECT_EQ(sp.at("receptive_field_synapses").get<std::int64_t>(), potential);
  EXPECT_DOUBLE_EQ(sp.at("silent_fraction_in_fields").get<double>(),
                   static_cast<double>(silent) / static_cast<double>(potential));
  EXPECT_GT(sp.at("silent_fraction").get<double>(), sp.at("silent_fraction_in_fields").get<double>())
      << "over all synapses the wiring's absences count as silent";
}

TEST(ReceptiveFields, ConfigurationErrorsNameTheKeys) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 300, 50);
  const auto message = [&](std::vector<std::string> sets) {
    return config_error([&] { train(windowed_config(ds, std::move(sets)), {}); });
  };
  EXPECT_TRUE(has(message({"bio.window=0"}), "bio.local_inhibition"));
  EXPECT_TRUE(has(message({"bio.window=9"}), "larger than the 8-pixel image"));
  EXPECT_TRUE(has(message({"network.hidden=[50]"}), "do not share the 40 excitatory"));
  EXPECT_TRUE(has(message({"bio.divisive=true"}), "bio.divisive"));
  // The k-means control without H4 and H5 (part of the rule; H5 would fight the prototypes).
  EXPECT_TRUE(has(message({"bio.hidden_update=kmeans"}), "bio.structural = false"));
}

// The k-means control under windows: every window's prototypes are exactly those of a plain
// KMeansPrototypes run on that window's pixels alone, written into its neurons' windows.
TEST(ReceptiveFields, WindowedKMeansIsKMeansOnEachWindowsPixels) {
  ReceptiveFields rf;
  rf.image_side = 8;
  rf.window = 4;
  rf.stride = 4;
  rf.units_per_window = 3;
  Rng rng(4);
  WeightMatrix W = WeightMatrix::Zero(14, 64);  // 12 windowed units and 2 more (interneuron rows)
  rules::WindowedKMeans windowed;
  std::vector<rules::KMeansPrototypes> reference(4);
  std::vector<WeightMatrix> reference_w(4, WeightMatrix::Zero(3, 16));
  for (int batch = 0; batch < 3; ++batch) {
    Eigen::MatrixXf X(64, 10);
    for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = static_cast<float>(rng.uniform());
    windowed.step(W, X, rf);
    for (int k = 0; k < 4; ++k) {
      std::vector<Eigen::Index> pixels;
      for (Eigen::Index j = 0; j < 64; ++j)
        if (rf.potential(k * 3, j)) pixels.push_back(j);
      const Eigen::MatrixXf Xk = X(pixels, Eigen::all);
      reference[static_cast<std::size_t>(k)].step(reference_w[static_cast<std::size_t>(k)], Xk);
      for (Eigen::Index u = 0; u < 3; ++u)
        for (Eigen::Index j = 0; j < 64; ++j) {
          const auto at = std::find(pixels.begin(), pixels.end(), j);
          const float expected =
              at == pixels.end() ? 0.0F : reference_w[static_cast<std::size_t>(k)](u, at - pixels.begin());
          ASSERT_EQ(W(k * 3 + u, j), expected) << "batch " << batch << " window " << k << " unit " << u;
        }
    }
  }
  EXPECT_TRUE((W.bottomRows(2).array() == 0.0F).all());
}

TEST(ReceptiveFields, TheKMeansControlTrainsInsideTheWindows) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 3000, 500);
  const TrainOutcome r =
      train(windowed_config(ds, {"bio.hidden_update=kmeans", "bio.homeostasis=false", "bio.structural=false"}), {});
  EXPECT_GT(r.results["metrics"]["test"]["accuracy"].get<double>(), 0.8);
  const Projection& in = r.model.net.projections[0];
  for (Eigen::Index i = 0; i < in.num_post(); ++i)
    for (Eigen::Index j = 0; j < in.num_pre(); ++j)
      if (!in.receptive_fields.potential(i, j)) {
        ASSERT_EQ(in.weight(i, j), 0.0F);
      }
}
