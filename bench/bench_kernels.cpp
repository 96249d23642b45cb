// Google Benchmark micro-benchmarks of the hot paths on the 784-1000-10 MLP with batch 128:
// forward, backward (parameter and input gradients), one full Adam training step, one step of the
// bio rule (784-2000-10, batch 100), and a dense
// GEMM of the same shape as the forward pass, by Eigen and by the library's own GEMM path (the
// machine's reference points).
// Run: build/bench/dalenet_bench   (a benchmark, not a test; bench/table.py prints the ratios against PyTorch)
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "dalenet/backprop.hpp"
#include "dalenet/rule.hpp"
#include "dalenet/threads.hpp"
#include "util/gemm.hpp"

using namespace dalenet;

namespace {
struct Setup {
  Network net;
  Eigen::MatrixXf X;
  std::vector<std::uint8_t> y;
  explicit Setup(int hidden = 1000, int batch = 128) {
    NetworkSpec spec;
    spec.hidden = {hidden};
    net = make_network(spec);
    Rng rng(1);
    init_weights(net, InitSpec{}, rng);
    X = Eigen::MatrixXf::Random(784, batch).cwiseAbs();
    for (int i = 0; i < batch; ++i) y.push_back(static_cast<std::uint8_t>(i % 10));
  }
};

void flops(benchmark::State& st, double per_iter) {
  st.counters["GFLOP/s"] =
      benchmark::Counter(per_iter * static_cast<double>(st.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

void BM_Forward(benchmark::State& st) {
  set_threads(static_cast<int>(st.range(0)));
  Setup s;
  ForwardCache c;
  for (auto _ : st) {
    forward(s.net, s.X, c);
    benchmark::DoNotOptimize(c.logits().data());
  }
  flops(st, 2.0 * 128 * (784 * 1000 + 1000 * 10));
}

void BM_Backward(benchmark::State& st) {
  set_threads(static_cast<int>(st.range(0)));
  Setup s;
  ForwardCache c;
  forward(s.net, s.X, c);
  Eigen::MatrixXf d;
  softmax_cross_entropy(c.logits(), s.y, Reduction::mean, &d);
  Gradients g;
  BackwardScratch scratch;
  Eigen::MatrixXf gx;
  for (auto _ : st) {
    backward(s.net, c, d, &g, &gx, scratch);
    benchmark::DoNotOptimize(gx.data());
  }
  flops(st, 2.0 * 2.0 * 128 * (784 * 1000 + 1000 * 10));
}

void BM_AdamTrainStep(benchmark::State& st) {
  set_threads(static_cast<int>(st.range(0)));
  Setup s;
  RuleConfig cfg;
  auto rule = make_rule(cfg);
  rule->begin(s.net);
  for (auto _ : st) benchmark::DoNotOptimize(rule->train_batch(s.net, s.X, s.y).loss);
  flops(st, 2.0 * 128 * (784 * 1000 + 1000 * 10) * 2.0);  // forward + weight gradients
}

void BM_Gemm(benchmark::State& st) {
  set_threads(static_cast<int>(st.range(0)));
  const auto m = st.range(1), k = st.range(2), n = st.range(3);
  const Eigen::MatrixXf A = Eigen::MatrixXf::Random(m, k), B = Eigen::MatrixXf::Random(k, n);
  Eigen::MatrixXf C(m, n);
  for (auto _ : st) {
    C.noalias() = A * B;
    benchmark::DoNotOptimize(C.data());
  }
  flops(st, 2.0 * static_cast<double>(m * k * n));
}

// The same products through the library's own GEMM path (detail::split_rows_product, what the
// forward pass, the gradients and the bio drive run: dalenet's kernel on AVX-512 builds, Eigen's
// otherwise), the weight matrix row-major as the networks store it.
void BM_GemmLibrary(benchmark::State& st) {
  set_threads(static_cast<int>(st.range(0)));
  const auto m = st.range(1), k = st.range(2), n = st.range(3);
  const WeightMatrix A = WeightMatrix::Random(m, k);
  const Eigen::MatrixXf B = Eigen::MatrixXf::Random(k, n);
  Eigen::MatrixXf C(m, n);
  for (auto _ : st) {
    detail::split_rows_product(C, A, B);
    benchmark::DoNotOptimize(C.data());
  }
  flops(st, 2.0 * static_cast<double>(m * k * n));
}

// One training step of the bio rule on 784-2000-10 (N_E = 1600, 400 interneurons; the shape of
// bench/bio_vs_bp.sh), batch 100, on synthetic images with about MNIST's share of zero pixels
// (each class a random stroke pattern of ~20 % of the pixels, each example a noisy copy), cycling
// through 20 batches. The per-batch cost that bio_vs_bp.sh's epoch is made of, without the data
// loading and shuffling; the rule's state drifts as it learns, as in an epoch. Arg: threads.
void BM_BioTrainStep(benchmark::State& st) {
  set_threads(static_cast<int>(st.range(0)));
  NetworkSpec spec;
  spec.hidden = {2000};
  spec.hidden_activation = Activation::identity;
  spec.inhibitory_fraction = 0.2;
  Network net = make_network(spec);
  Rng rng(1);
  InitSpec init;
  init.kind = InitKind::uniform;
  init.sign = SignInit::per_neuron;
  init_weights(net, init, rng);
  RuleConfig cfg;  // experiments/bio_mnist.toml's plastic phase
  cfg.name = "bio";
  cfg.bio.inhibition_gain = 0.3;
  cfg.bio.eta_output = 0.1;
  auto rule = make_rule(cfg);
  Rng prepare_rng(2);
  rule->prepare(net, prepare_rng);
  rule->begin(net);
  rule->begin_epoch(1, 1);
  constexpr int kBatches = 20, kBatch = 100, kClasses = 10;
  Eigen::MatrixXf prototypes(784, kClasses);
  for (Eigen::Index k = 0; k < prototypes.size(); ++k)
    prototypes.data()[k] = rng.uniform() < 0.2 ? static_cast<float>(rng.uniform()) : 0.0F;
  std::vector<Eigen::MatrixXf> X(kBatches, Eigen::MatrixXf(784, kBatch));
  std::vector<std::vector<std::uint8_t>> y(kBatches, std::vector<std::uint8_t>(kBatch));
  for (int b = 0; b < kBatches; ++b)
    for (int e = 0; e < kBatch; ++e) {
      const int label = static_cast<int>(rng.uniform() * kClasses) % kClasses;
      y[static_cast<std::size_t>(b)][static_cast<std::size_t>(e)] = static_cast<std::uint8_t>(label);
      for (Eigen::Index i = 0; i < 784; ++i) {
        const float p = prototypes(i, label);
        X[static_cast<std::size_t>(b)](i, e) = p > 0.0F && rng.uniform() < 0.9 ? p : 0.0F;
      }
    }
  std::size_t k = 0;
  for (auto _ : st) {
    benchmark::DoNotOptimize(rule->train_batch(net, X[k % kBatches], y[k % kBatches]).loss);
    ++k;
  }
}

// Sparse vs dense execution of a bio-like input projection (784 -> 2000, log-normalised
// efficacy) with a given percentage of silent synapses, weights fixed (evaluation, attacks).
// Arguments: silent %, 1 = sparse / 0 = dense, 1 = with the input gradient / 0 = forward only,
// batch (100: a training batch; 1000: the batch of evaluate, logits_for and the attacks, the
// passes that run with fixed weights and hence sparse).
void BM_SilentProjection(benchmark::State& st) {
  set_threads(2);
  NetworkSpec spec;
  spec.hidden = {2000};
  Network net = make_network(spec);
  Rng rng(1);
  InitSpec init;
  init.kind = InitKind::uniform;
  init_weights(net, init, rng);
  auto& p = net.projections[0];
  p.efficacy = Efficacy::log_normalized;
  p.efficacy_floor = 1e-3F / 784.0F;
  const double silent = static_cast<double>(st.range(0)) / 100.0;
  for (Eigen::Index k = 0; k < p.weight.size(); ++k)
    if (rng.uniform() < silent) p.weight.data()[k] = 0.0F;
  const auto batch = static_cast<int>(st.range(3));
  const Eigen::MatrixXf X = Eigen::MatrixXf::Random(784, batch).cwiseAbs();
  std::vector<std::uint8_t> y(static_cast<std::size_t>(batch));
  for (int i = 0; i < batch; ++i) y[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i % 10);
  ForwardCache c;
  c.weights_fixed = true;
  // The projection under test runs as asked; the 2000 -> 10 output projection (no zeros) takes the
  // automatic choice, dense, as in every real pass (forcing it sparse too cost the sparse rows a
  // transposition of the 2000 x 100 hidden rates each way).
  c.projection_execution = {st.range(1) != 0 ? Execution::sparse : Execution::dense, Execution::automatic};
  Eigen::MatrixXf d, gx;
  BackwardScratch scratch;
  const bool with_gradient = st.range(2) != 0;  // 0: forward only (inference); 1: + input gradient (attacks)
  for (auto _ : st) {
    forward(net, X, c);
    if (with_gradient) {
      softmax_cross_entropy(c.logits(), y, Reduction::sum, &d);
      backward(net, c, d, nullptr, &gx, scratch);
      benchmark::DoNotOptimize(gx.data());
    }
    benchmark::DoNotOptimize(c.logits().data());
  }
  st.SetLabel(std::string(st.range(1) != 0 ? "sparse" : "dense") + (with_gradient ? " forward+gradient" : " forward"));
}
}  // namespace

// Args: silent %, sparse (1) or dense (0), with the input gradient (1) or forward only (0), batch.
BENCHMARK(BM_SilentProjection)->ArgsProduct({{0, 50, 70, 80, 90, 95, 99}, {0, 1}, {0, 1}, {100}})->UseRealTime();
BENCHMARK(BM_SilentProjection)->ArgsProduct({{90, 95, 99}, {0, 1}, {0, 1}, {1000}})->UseRealTime();
BENCHMARK(BM_Forward)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_Backward)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_AdamTrainStep)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_BioTrainStep)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_Gemm)->Args({2, 1000, 784, 128})->Args({2, 1000, 1000, 1000})->UseRealTime();
BENCHMARK(BM_GemmLibrary)
    ->Args({2, 1000, 784, 128})
    ->Args({2, 1000, 1000, 1000})
    ->Args({1, 1000, 784, 128})
    ->Args({1, 512, 784, 128})
    ->UseRealTime();
BENCHMARK_MAIN();
