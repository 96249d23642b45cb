// dalenet's own GEMM kernel (src/util/sgemm.hpp) against a double-precision reference.
#include <gtest/gtest.h>

#include <Eigen/Core>
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <tuple>
#include <vector>

#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"
#include "dalenet/network.hpp"
#include "dalenet/rng.hpp"
#include "dalenet/threads.hpp"
#include "util/gemm.hpp"
#include "util/packet_log.hpp"
#include "util/sgemm.hpp"

namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Checks every entry of C = A B against the product in double, within the rounding bound of a
// float sum of k terms, (k + 2) eps sum_p |A(i, p) B(p, j)|.
template <typename C, typename A, typename B>
void expect_product(const C& c, const A& a, const B& b, const std::string& what) {
  const Eigen::MatrixXd ad = a.template cast<double>(), bd = b.template cast<double>();
  const Eigen::MatrixXd ref = ad * bd, bound = ad.cwiseAbs() * bd.cwiseAbs();
  const double eps = std::numeric_limits<float>::epsilon();
  int bad = 0;
  for (Eigen::Index j = 0; j < c.cols(); ++j)
    for (Eigen::Index i = 0; i < c.rows(); ++i)
      if (std::abs(c(i, j) - ref(i, j)) > (static_cast<double>(a.cols()) + 2) * eps * bound(i, j) + 1e-30 && ++bad < 4)
        ADD_FAILURE() << what << ": C(" << i << ", " << j << ") = " << c(i, j) << ", reference " << ref(i, j);
  EXPECT_EQ(bad, 0) << what;
}

template <typename Mat>
Mat random_matrix(Eigen::Index rows, Eigen::Index cols, unsigned seed) {
  std::srand(seed);
  return Mat::Random(rows, cols);
}

TEST(Sgemm, MatchesADoubleReferenceInEveryLayout) {
  if (!dalenet::detail::kOwnSgemm) GTEST_SKIP() << "built without AVX-512F: Eigen's GEMM is used";
  // Shapes around the register tile (32 x 12), the blocks (240 rows, depth blocks of at most 384,
  // 3072 columns) and the 16-wide transposes of the packing.
  const std::tuple<int, int, int> shapes[] = {{1, 1, 1},        {5, 3, 7},       {32, 12, 16},   {33, 13, 17},
                                              {31, 11, 15},     {100, 128, 784}, {241, 25, 385}, {64, 3075, 20},
                                              {500, 128, 1000}, {17, 40, 0}};
  unsigned seed = 1;
  for (const auto& [m, n, k] : shapes) {
    const RowMajor a_r = random_matrix<RowMajor>(m, k, seed++);
    const Eigen::MatrixXf a_c = a_r, b_c = random_matrix<Eigen::MatrixXf>(k, n, seed++);
    const RowMajor b_r = b_c;
    const std::string shape = std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k);
    for (int layout = 0; layout < 8; ++layout) {
      Eigen::MatrixXf c_c = Eigen::MatrixXf::Constant(m, n, 7.0F);
      RowMajor c_r = RowMajor::Constant(m, n, 7.0F);
      const bool a_rows = (layout & 1) != 0, b_rows = (layout & 2) != 0, c_rows = (layout & 4) != 0;
      const auto run = [&](auto& c) {
        if (a_rows && b_rows) dalenet::detail::sgemm(c, a_r, b_r);
        if (a_rows && !b_rows) dalenet::detail::sgemm(c, a_r, b_c);
        if (!a_rows && b_rows) dalenet::detail::sgemm(c, a_c, b_r);
        if (!a_rows && !b_rows) dalenet::detail::sgemm(c, a_c, b_c);
      };
      const std::string what = shape + " layout " + std::to_string(layout);
      if (c_rows) {
        run(c_r);
        expect_product(c_r, a_c, b_c, what);
      } else {
        run(c_c);
        expect_product(c_c, a_c, b_c, what);
      }
    }
  }
}

TEST(Sgemm, BlocksAndTransposesWithOuterStrides) {
  if (!dalenet::detail::kOwnSgemm) GTEST_SKIP() << "built without AVX-512F: Eigen's GEMM is used";
  // The operands as the library passes them: blocks of larger matrices and transposes.
  const RowMajor big_a = random_matrix<RowMajor>(90, 400, 11);
  const Eigen::MatrixXf big_b = random_matrix<Eigen::MatrixXf>(400, 70, 12);
  Eigen::MatrixXf big_c = Eigen::MatrixXf::Constant(100, 80, 3.0F);
  auto a = big_a.block(3, 5, 70, 390);
  auto b = big_b.block(5, 2, 390, 45);
  dalenet::detail::sgemm(big_c.block(4, 6, 70, 45), a, b);
  expect_product(big_c.block(4, 6, 70, 45), Eigen::MatrixXf(a), Eigen::MatrixXf(b), "blocks");
  EXPECT_EQ(big_c(3, 6), 3.0F) << "wrote outside the destination block";
  EXPECT_EQ(big_c(74, 6), 3.0F) << "wrote outside the destination block";
  EXPECT_EQ(big_c(4, 51), 3.0F) << "wrote outside the destination block";
  // The weight gradient's form: a row-major destination = columns x transposed columns.
  const Eigen::MatrixXf d = random_matrix<Eigen::MatrixXf>(130, 128, 13),
                        x = random_matrix<Eigen::MatrixXf>(200, 128, 14);
  RowMajor g(130, 200);
  dalenet::detail::sgemm(g, d, x.transpose());
  expect_product(g, d, Eigen::MatrixXf(x.transpose()), "d x^T");
  Eigen::MatrixXf below(200, 128);
  const RowMajor w = random_matrix<RowMajor>(130, 200, 15);
  dalenet::detail::sgemm(below, w.transpose(), d);
  expect_product(below, Eigen::MatrixXf(w.transpose()), d, "W^T d");
}

TEST(Sgemm, AnEntryDoesNotDependOnTheRowsOrColumnsComputed) {
  if (!dalenet::detail::kOwnSgemm) GTEST_SKIP() << "built without AVX-512F: Eigen's GEMM is used";
  // split_rows_product shares rows out over threads: the rows of a share must be bit-identical
  // to the same rows of the whole product, whatever the share's size.
  const RowMajor w = random_matrix<RowMajor>(1000, 784, 21);
  const Eigen::MatrixXf x = random_matrix<Eigen::MatrixXf>(784, 128, 22);
  Eigen::MatrixXf whole(1000, 128);
  dalenet::detail::sgemm(whole, w, x);
  for (const auto& [lo, rows] : {std::pair{0, 500}, std::pair{480, 520}, std::pair{7, 33}, std::pair{999, 1}}) {
    Eigen::MatrixXf part(rows, 128);
    dalenet::detail::sgemm(part, w.middleRows(lo, rows), x);
    EXPECT_TRUE(part == whole.middleRows(lo, rows)) << "rows " << lo << " + " << rows;
  }
  Eigen::MatrixXf cols(1000, 5);
  dalenet::detail::sgemm(cols, w, x.middleCols(100, 5));
  EXPECT_TRUE(cols == whole.middleCols(100, 5));
}

TEST(Sgemm, ProductIntoMatchesEigen) {
  // The library's entry point, with or without the kernel: the same products as Eigen's, to
  // rounding.
  const RowMajor w = random_matrix<RowMajor>(300, 200, 31);
  const Eigen::MatrixXf x = random_matrix<Eigen::MatrixXf>(200, 50, 32);
  Eigen::MatrixXf z(300, 50);
  dalenet::detail::product_into(z, w, x);
  expect_product(z, Eigen::MatrixXf(w), x, "product_into");
}

TEST(Sgemm, ForwardAndGradientsDoNotDependOnTheThreadCount) {
  if (!dalenet::detail::kOwnSgemm) GTEST_SKIP() << "built without AVX-512F: Eigen's sums depend on its threads";
  // A batch large enough for every product to be split over the threads (784-1000-10, batch 128:
  // forward, weight gradient, input gradient): with dalenet's kernel the logits, parameter and
  // input gradients are bit-identical at 1 and 2 threads.
  using namespace dalenet;
  NetworkSpec spec;
  spec.hidden = {1000};
  Network net = make_network(spec);
  Rng rng(5);
  init_weights(net, InitSpec{}, rng);
  const Eigen::MatrixXf X = (random_matrix<Eigen::MatrixXf>(784, 128, 41).array() + 1.0F) / 2.0F;
  std::vector<std::uint8_t> y(128);
  for (std::size_t b = 0; b < y.size(); ++b) y[b] = static_cast<std::uint8_t>(b % 10);
  struct Out {
    Eigen::MatrixXf logits, input_grad;
    Gradients grads;
  };
  const auto pass = [&](int threads) {
    set_threads(threads);
    ForwardCache cache;
    BackwardScratch scratch;
    Out o;
    forward(net, X, cache);
    Eigen::MatrixXf d;
    softmax_cross_entropy(cache.logits(), y, Reduction::mean, &d);
    o.grads.resize_like(net);
    backward(net, cache, d, &o.grads, &o.input_grad, scratch);
    o.logits = cache.logits();
    return o;
  };
  const int before = current_threads();
  const Out one = pass(1), two = pass(2);
  set_threads(before);
  EXPECT_TRUE(one.logits == two.logits);
  EXPECT_TRUE(one.input_grad == two.input_grad);
  for (std::size_t l = 0; l < one.grads.weight.size(); ++l)
    EXPECT_TRUE(one.grads.weight[l] == two.grads.weight[l]) << "weight gradient " << l;
}

TEST(Sgemm, EfficacyPanelsMatchTheStoredEffectiveWeights) {
  if (!dalenet::detail::kOwnSgemm) GTEST_SKIP() << "built without AVX-512F: no panel products";
  // A forward_only cache computes a log_normalized projection's effective weights inside the
  // product (src/net/efficacy.hpp); its drives must be bit-identical to the stored-matrix path's,
  // at 1 and 2 threads, for depths with and without a scalar tail and with depth blocks starting
  // inside a packet (784: 262, 262, 260). Rows: non-negative, mixed-sign, silent stretches (a
  // packet below the floor), a NaN row, an empty row, empty trailing rows (the interneurons).
  using namespace dalenet;
  for (const Eigen::Index P : {Eigen::Index{37}, Eigen::Index{100}, Eigen::Index{784}}) {
    NetworkSpec spec;
    spec.input = static_cast<int>(P);
    spec.hidden = {300};
    Network net = make_network(spec);
    Rng rng(9);
    init_weights(net, InitSpec{}, rng);
    Projection& in = net.projections[0];
    in.efficacy = Efficacy::log_normalized;
    in.efficacy_floor = 0.5F / static_cast<float>(P);
    in.weight = (random_matrix<Eigen::MatrixXf>(300, P, 13).array().abs() * 0.09F + 0.01F).matrix();
    for (Eigen::Index i = 0; i < 300; i += 3) in.weight.row(i).head(std::min<Eigen::Index>(P, 40)).setConstant(1e-7F);
    for (Eigen::Index i = 1; i < 300; i += 5) in.weight(i, (i * 7) % P) = -0.05F;
    in.weight.row(10).setZero();
    in.weight(11, P / 2) = std::numeric_limits<float>::quiet_NaN();
    in.weight.bottomRows(40).setZero();
    const Eigen::MatrixXf X = (random_matrix<Eigen::MatrixXf>(P, 250, 17).array() + 1.0F) / 2.0F;
    const int before = current_threads();
    for (const int threads : {1, 2}) {
      set_threads(threads);
      ForwardCache stored, panels;
      panels.forward_only = true;
      forward(net, X, stored);
      forward(net, X, panels);
      EXPECT_NE(stored.prepared[0], nullptr);
      EXPECT_EQ(panels.prepared[0], nullptr) << "the panel product did not run";
      EXPECT_EQ(stored.live_rows[0], panels.live_rows[0]);
      const auto bits = [](const Eigen::MatrixXf& m) {
        return Eigen::Map<const Eigen::Matrix<std::uint32_t, Eigen::Dynamic, 1>>(
            reinterpret_cast<const std::uint32_t*>(m.data()), m.size());
      };
      EXPECT_TRUE(bits(stored.pre[1]) == bits(panels.pre[1])) << "P " << P << ", " << threads << " threads";
      EXPECT_TRUE(bits(stored.logits()) == bits(panels.logits())) << "P " << P << ", " << threads << " threads";
      BackwardScratch scratch;
      Eigen::MatrixXf input_grad;
      const Eigen::MatrixXf d = Eigen::MatrixXf::Ones(10, 250);
      EXPECT_THROW(backward(net, panels, d, nullptr, &input_grad, scratch), InputError);
    }
    set_threads(before);
  }
}

TEST(Efficacy, PacketLogMatchesEigensLog) {
  // detail::plog_finite_positive (src/util/packet_log.hpp) drops the special cases of Eigen's
  // vectorised log; for every finite positive input it must give Eigen's values bit for bit:
  // a million random bit patterns over all exponents, subnormals, the smallest normal, the largest
  // float, and values around 1 and around sqrt(1/2), where the range reduction switches.
  namespace ei = Eigen::internal;
  using Simd = ei::packet_traits<float>::type;
  constexpr Eigen::Index kSize = ei::packet_traits<float>::size;
  if constexpr (!ei::packet_traits<float>::Vectorizable || kSize == 1) GTEST_SKIP() << "no SIMD packets";
  using Packet = Eigen::Array<float, 1, kSize>;
  dalenet::Rng rng(21);
  std::vector<float> inputs = {std::numeric_limits<float>::min(),
                               std::numeric_limits<float>::max(),
                               std::numeric_limits<float>::denorm_min(),
                               1e-40F,
                               1.0F,
                               0.70710677F,
                               0.70710683F};
  for (int k = 0; k < 1'000'000; ++k) {
    const auto bits = static_cast<std::uint32_t>(rng.uniform() * 2139095040.0);  // below +inf's bits
    inputs.push_back(std::bit_cast<float>(bits == 0 ? 1U : bits));
  }
  for (int k = -2000; k <= 2000; ++k) {
    inputs.push_back(1.0F + static_cast<float>(k) * 1e-6F);
    inputs.push_back(0.70710678F + static_cast<float>(k) * 1e-7F);
  }
  while (inputs.size() % kSize != 0) inputs.push_back(2.0F);
  std::size_t checked = 0;
  for (std::size_t i = 0; i < inputs.size(); i += kSize) {
    const Eigen::Map<const Packet> x(inputs.data() + i);
    ASSERT_TRUE((x > 0.0F).all() && x.isFinite().all());
    const Packet expected = x.log();
    Packet got;
    ei::pstoreu(got.data(), dalenet::detail::plog_finite_positive(ei::ploadu<Simd>(x.data())));
    for (Eigen::Index l = 0; l < kSize; ++l, ++checked)
      ASSERT_EQ(std::bit_cast<std::uint32_t>(got(l)), std::bit_cast<std::uint32_t>(expected(l)))
          << "log(" << x(l) << ")";
  }
  EXPECT_GT(checked, 1'000'000U);
}

TEST(Efficacy, EffectiveWeightsAreEigensExpression) {
  // Projection::effective_weight (the log-normalised efficacy, through the special-case-free log
  // where a row's sum is finite) against Eigen's own expression, row by row, at 784 inputs (no
  // scalar tail): rows of ordinary weights, with silent stretches, a row summing to about 1e-40
  // (1 / sum overflows: Eigen's log with its special cases), a row with a +inf weight, and
  // floors across four orders of magnitude.
  using namespace dalenet;
  constexpr Eigen::Index P = 784;
  for (const float factor : {0.05F, 0.5F, 5.0F, 500.0F}) {
    Projection in;
    in.weight = (random_matrix<Eigen::MatrixXf>(40, P, 31).array().abs() * 0.09F + 0.01F).matrix();
    for (Eigen::Index i = 0; i < 40; i += 3) in.weight.row(i).segment(100, 200).setConstant(1e-7F);
    in.weight.row(5).setConstant(1e-43F);
    in.weight(6, 7) = std::numeric_limits<float>::infinity();
    in.efficacy = Efficacy::log_normalized;
    in.efficacy_floor = factor / static_cast<float>(P);
    WeightMatrix got;
    in.effective_weight(got);
    const float floor = in.efficacy_floor;
    using Row = Eigen::Array<float, 1, Eigen::Dynamic>;
    const float log_floor = Eigen::Array<float, 1, 16>::Constant(floor).log()(0);
    for (Eigen::Index i = 0; i < 40; ++i) {
      const float sum = in.weight.row(i).sum();
      Row expected(P);
      expected = (in.weight.row(i).array() * (1.0F / sum)).max(floor).log() - log_floor;
      for (Eigen::Index c = 0; c < P; ++c) {
        if (std::isnan(expected(c))) {
          ASSERT_TRUE(std::isnan(got(i, c))) << "row " << i << " col " << c;
          continue;
        }
        ASSERT_EQ(std::bit_cast<std::uint32_t>(got(i, c)), std::bit_cast<std::uint32_t>(expected(c)))
            << "factor " << factor << " row " << i << " col " << c << ": " << got(i, c) << " vs " << expected(c);
      }
    }
  }
}

}  // namespace
