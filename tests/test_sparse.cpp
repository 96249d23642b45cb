// Sparse execution (CSR) of mostly silent projections: the same logits and input gradients as
// the dense kernels within float rounding, and the automatic choice follows the documented rule.
#include <gtest/gtest.h>

#include "dalenet/backprop.hpp"
#include "dalenet/threads.hpp"
#include "helpers.hpp"

using namespace dalenet;

namespace {
// An input-hidden-5 network (30-40-5 unless asked) whose input projection has `silent` of its
// synapses at zero.
Network sparse_net(double silent, Efficacy efficacy, Rng& rng, int input = 30, int hidden = 40) {
  NetworkSpec spec;
  spec.input = input;
  spec.hidden = {hidden};
  spec.output = 5;
  spec.hidden_activation = Activation::relu;
  Network net = make_network(spec);
  InitSpec init;
  init.kind = InitKind::uniform;
  init_weights(net, init, rng);
  auto& p = net.projections[0];
  p.efficacy = efficacy;
  p.efficacy_floor = 1e-3F;
  for (Eigen::Index k = 0; k < p.weight.size(); ++k)
    if (rng.uniform() < silent) p.weight.data()[k] = 0.0F;
  for (Eigen::Index i = 0; i < p.bias.size(); ++i) p.bias(i) = static_cast<float>(rng.uniform(-0.1, 0.1));
  return net;
}

struct Pass {
  Eigen::MatrixXf logits, grad;
  bool sparse0 = false;
};
Pass run(const Network& net, const Eigen::MatrixXf& X, const std::vector<std::uint8_t>& y, Execution e, bool fixed) {
  ForwardCache c;
  c.execution = e;
  c.weights_fixed = fixed;
  Pass r;
  for (int rep = 0; rep < 2; ++rep) {  // the second pass reuses what the first prepared
    forward(net, X, c);
    Eigen::MatrixXf d;
    softmax_cross_entropy(c.logits(), y, Reduction::sum, &d);
    BackwardScratch s;
    backward(net, c, d, nullptr, &r.grad, s);
  }
  r.logits = c.logits();
  r.sparse0 = c.sparse_active[0] != 0;
  return r;
}
}  // namespace

// Batch sizes cover the CSR kernel's column blocks (with AVX-512 packets of 16 floats, blocks of
// up to 8 packets): under one packet, a partial packet (17 -> 2 packets), 4 packets, 7 (100),
// 8 + 2 (150) and 8 + 5 (200); and the transposing copies' whole 16 x 16 tiles and ragged edges.
TEST(SparseExecution, MatchesDenseForwardAndInputGradient) {
  for (const Efficacy e : {Efficacy::linear, Efficacy::log_normalized})
    for (const double silent : {0.5, 0.9, 0.99})
      for (const int batch : {1, 17, 64, 100, 150, 200}) {
        Rng rng(3);
        const Network net = sparse_net(silent, e, rng);
        const Eigen::MatrixXf X = Eigen::MatrixXf::Random(30, batch).cwiseAbs();
        std::vector<std::uint8_t> y;
        for (int i = 0; i < batch; ++i) y.push_back(static_cast<std::uint8_t>(i % 5));
        const Pass dense = run(net, X, y, Execution::dense, true), sparse = run(net, X, y, Execution::sparse, true);
        EXPECT_FALSE(dense.sparse0);
        EXPECT_TRUE(sparse.sparse0);
        EXPECT_TRUE(dense.logits.isApprox(sparse.logits, 1e-5F))
            << to_string(e) << " silent " << silent << " B " << batch;
        EXPECT_TRUE(dense.grad.isApprox(sparse.grad, 1e-5F)) << to_string(e) << " silent " << silent << " B " << batch;
      }
}

// The CSR kernel writes each tile of result rows straight to column-major storage: the same
// bits at 1 and 2 threads (tiles are shared out statically, each element summed by one thread),
// with result rows that fill whole tiles and a ragged last tile (53 = 3 x 16 + 5), one and two
// column blocks (batch 100 and 150), and a 700-input right-hand side (each thread copies a share
// of its row tiles to row-major, then a barrier: a race there fails the bit comparison).
TEST(SparseExecution, CsrProductIsThreadCountIndependentAndMatchesDense) {
  for (const int hidden : {48, 53})
    for (const int batch : {100, 150}) {
      Rng rng(5);
      const Network net = sparse_net(0.9, Efficacy::linear, rng, 700, hidden);
      const Eigen::MatrixXf X = Eigen::MatrixXf::Random(700, batch).cwiseAbs();
      std::vector<std::uint8_t> y;
      for (int i = 0; i < batch; ++i) y.push_back(static_cast<std::uint8_t>(i % 5));
      Pass sparse[2];
      for (const int threads : {1, 2}) {
        set_threads(threads);
        sparse[threads - 1] = run(net, X, y, Execution::sparse, true);
        EXPECT_TRUE(sparse[threads - 1].sparse0);
      }
      set_threads(0);
      const std::string at = "hidden " + std::to_string(hidden) + " batch " + std::to_string(batch);
      EXPECT_TRUE(sparse[0].logits.cwiseEqual(sparse[1].logits).all()) << at;
      EXPECT_TRUE(sparse[0].grad.cwiseEqual(sparse[1].grad).all()) << at;
      const Pass dense = run(net, X, y, Execution::dense, true);
      EXPECT_TRUE(dense.logits.isApprox(sparse[1].logits, 1e-5F)) << at;
      EXPECT_TRUE(dense.grad.isApprox(sparse[1].grad, 1e-5F)) << at;
    }
}

// A sparse projection into a layer without competition adds the bias and applies ReLU or the
// identity as it stores its result (TileEpilogue), and the first one copies X into act[0] in its
// own sweep over X. Checked bit for bit: act[0] is X (here a block of a taller matrix, so its
// leading dimension is not its row count), pre is the bias-free pass's pre plus the bias (the
// separate pass's float additions), act is max(pre, 0) or pre. Hidden sizes 48 and 53 (whole
// tiles and a ragged last tile), batches with ragged columns and two column blocks, and one
// result of 2^20 floats, whose pre is stored past the caches (AVX-512 builds); sigmoid (not
// fused, a pass of its own) must give the same as before too. A mutation that drops the bias,
// the max, the copy of one tile or one streamed packet fails here.
TEST(SparseExecution, FusedBiasActivationAndInputCopyAreTheSeparatePasses) {
  // {hidden, batch}: whole and ragged tiles; the last pair's result (2^20 floats) is large enough
  // for the store to bypass the caches on AVX-512 builds.
  const std::vector<std::pair<int, int>> shapes = {{48, 1},  {48, 17},  {48, 100}, {48, 150},  {53, 1},
                                                   {53, 17}, {53, 100}, {53, 150}, {2048, 512}};
  for (const Activation f : {Activation::relu, Activation::identity, Activation::sigmoid})
    for (const auto& [hidden, batch] : shapes) {
      if (hidden == 2048 && f == Activation::sigmoid) continue;  // not fused: nothing streamed
      Rng rng(8);
      Network net = sparse_net(0.9, Efficacy::linear, rng, 37, hidden);
      net.layers[1].activation = f;
      Network unbiased = net;
      unbiased.projections[0].bias.setZero();
      const Eigen::MatrixXf tall = Eigen::MatrixXf::Random(40, batch);
      const auto X = tall.middleRows(2, 37);  // outer stride 40
      const std::string at = to_string(f) + " hidden " + std::to_string(hidden) + " batch " + std::to_string(batch);
      for (const int threads : {1, 2}) {
        set_threads(threads);
        ForwardCache c, u, dense;
        c.execution = u.execution = Execution::sparse;
        dense.execution = Execution::dense;
        c.weights_fixed = u.weights_fixed = dense.weights_fixed = true;
        forward(net, X, c);
        forward(unbiased, X, u);
        forward(net, X, dense);
        ASSERT_TRUE(c.sparse_active[0] != 0) << at;
        EXPECT_TRUE(c.act[0].cwiseEqual(X).all()) << at;
        const Eigen::MatrixXf expected_pre = u.pre[1].colwise() + net.projections[0].bias;
        EXPECT_TRUE(c.pre[1].cwiseEqual(expected_pre).all()) << at;
        Eigen::MatrixXf expected_act(expected_pre.rows(), expected_pre.cols());
        for (Eigen::Index k = 0; k < expected_pre.size(); ++k)
          expected_act.data()[k] = activate(f, expected_pre.data()[k]);
        if (f == Activation::sigmoid)
          EXPECT_TRUE(c.act[1].isApprox(expected_act, 1e-6F)) << at;
        else
          EXPECT_TRUE(c.act[1].cwiseEqual(expected_act).all()) << at;
        EXPECT_TRUE(c.pre[1].isApprox(dense.pre[1], 1e-5F)) << at;
        EXPECT_TRUE(c.logits().isApprox(dense.logits(), 1e-5F)) << at;
      }
      set_threads(0);
    }
}

TEST(SparseExecution, AutomaticChoiceFollowsTheZeroFractionOnlyForFixedWeights) {
  Rng rng(4);
  const Network mostly_silent = sparse_net(0.95, Efficacy::log_normalized, rng);
  const Network half_silent = sparse_net(0.3, Efficacy::linear, rng);
  const Eigen::MatrixXf X = Eigen::MatrixXf::Random(30, 4).cwiseAbs();
  const std::vector<std::uint8_t> y = {0, 1, 2, 3};
  EXPECT_TRUE(run(mostly_silent, X, y, Execution::automatic, true).sparse0);
  EXPECT_FALSE(run(mostly_silent, X, y, Execution::automatic, false).sparse0);  // training: dense
  EXPECT_FALSE(run(half_silent, X, y, Execution::automatic, true).sparse0);
  // Output layer (dense weights) never runs sparse automatically.
  ForwardCache c;
  c.weights_fixed = true;
  forward(mostly_silent, X, c);
  EXPECT_FALSE(c.sparse_active[1] != 0);
  // A per-projection choice overrides `execution` for the projections it names.
  ForwardCache per;
  per.weights_fixed = true;
  per.execution = Execution::dense;
  per.projection_execution = {Execution::automatic};  // projection 0 only; projection 1 keeps dense
  forward(mostly_silent, X, per);
  EXPECT_TRUE(per.sparse_active[0] != 0);
  EXPECT_FALSE(per.sparse_active[1] != 0);
  per.projection_execution = {Execution::dense, Execution::sparse};
  per.weights_fixed = false;  // prepare again
  forward(mostly_silent, X, per);
  EXPECT_FALSE(per.sparse_active[0] != 0);
  EXPECT_TRUE(per.sparse_active[1] != 0);
}

// A cache with fixed weights that meets a second network (other weights, other shape) prepares
// again instead of reusing the first network's effective or CSR weights.
TEST(SparseExecution, ACacheReusedAcrossNetworksPreparesAgain) {
  Rng rng(6);
  const Network a = sparse_net(0.95, Efficacy::log_normalized, rng);
  const Network b = sparse_net(0.9, Efficacy::linear, rng);
  NetworkSpec wide;
  wide.input = 30;
  wide.hidden = {64};
  wide.output = 5;
  Network c = make_network(wide);
  init_weights(c, InitSpec{}, rng);
  const Eigen::MatrixXf X = Eigen::MatrixXf::Random(30, 6).cwiseAbs();
  ForwardCache shared;
  shared.weights_fixed = true;
  for (const Network* n : std::vector<const Network*>{&a, &b, &c, &a}) {
    forward(*n, X, shared);
    ForwardCache fresh;
    fresh.weights_fixed = true;
    forward(*n, X, fresh);
    EXPECT_EQ(shared.logits(), fresh.logits());
  }
}

// Projections with at most 12 outputs run on their own kernels (thin_times_dense: a dot product per
// output, vectorised along the input, two columns at a time; thin_transposed_times_dense for the
// input gradient W^T d). Against Eigen's products in double: every row
// count it covers (and 13, past it), input lengths off the SIMD width, odd batches (the pair
// kernel's tail), and the same bits at 1 and 2 threads.
TEST(ThinProjection, MatchesEigensProductAndIsThreadCountIndependent) {
  for (const int outputs : {1, 3, 10, 12, 13})
    for (const int inputs : {5, 16, 37, 300})
      for (const int batch : {1, 2, 7, 100}) {
        NetworkSpec spec;
        spec.input = inputs;
        spec.hidden = {};
        spec.output = outputs;
        Network net = make_network(spec);
        Rng rng(static_cast<std::uint64_t>(outputs * 1000 + inputs));
        init_weights(net, InitSpec{}, rng);
        auto& p = net.projections[0];
        for (Eigen::Index i = 0; i < p.bias.size(); ++i) p.bias(i) = static_cast<float>(rng.uniform(-1, 1));
        const Eigen::MatrixXf X = Eigen::MatrixXf::Random(inputs, batch);
        const Eigen::MatrixXd expected = (p.weight.cast<double>() * X.cast<double>()).colwise() + p.bias.cast<double>();
        std::vector<std::uint8_t> y;
        for (int i = 0; i < batch; ++i) y.push_back(static_cast<std::uint8_t>(i % outputs));
        Eigen::MatrixXf logits[2], grad[2], d;
        for (const int threads : {1, 2}) {
          set_threads(threads);
          ForwardCache c;
          forward(net, X, c);
          logits[threads - 1] = c.logits();
          softmax_cross_entropy(c.logits(), y, Reduction::sum, &d);
          BackwardScratch scratch;
          backward(net, c, d, nullptr, &grad[threads - 1], scratch);
        }
        set_threads(0);
        const std::string at = "outputs " + std::to_string(outputs) + " inputs " + std::to_string(inputs) + " batch " +
                               std::to_string(batch);
        EXPECT_LT((logits[0].cast<double>() - expected).cwiseAbs().maxCoeff(), 1e-5 * inputs) << at;
        EXPECT_EQ(logits[0], logits[1]) << at;
        const Eigen::MatrixXd expected_grad = p.weight.cast<double>().transpose() * d.cast<double>();
        EXPECT_LT((grad[0].cast<double>() - expected_grad).cwiseAbs().maxCoeff(), 1e-5 * outputs) << at;
        EXPECT_EQ(grad[0], grad[1]) << at;
      }
}
