#include "dalenet/backprop.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>
#ifdef __AVX512F__
#include <immintrin.h>  // _mm512_stream_ps, _mm_sfence
#endif

#include "dalenet/error.hpp"
#include "net/efficacy.hpp"
#include "net/forward_from_drive.hpp"
#include "util/gemm.hpp"
#include "util/simd.hpp"

namespace dalenet {

namespace {
// delta (in: dL/dy, out: dL/dpre), elementwise by the activation's derivative.
// pre and y as Refs: a block of rows (the excitatory units) binds without a copy.
void times_derivative(Activation a, const Eigen::Ref<const Eigen::MatrixXf>& pre,
                      const Eigen::Ref<const Eigen::MatrixXf>& y, Eigen::MatrixXf& delta) {
  switch (a) {
    case Activation::identity:
      return;
    case Activation::relu:
      delta = (pre.array() > 0.0F).select(delta, 0.0F);
      return;
    case Activation::sigmoid:
      delta.array() *= y.array() * (1.0F - y.array());
      return;
    case Activation::sigmoid2:
      delta.array() *= 0.5F * (1.0F - y.array().square());
      return;
    case Activation::tanh:
      delta.array() *= 1.0F - y.array().square();
      return;
  }
}
// Public entry points that take floats from outside (API, Python, attacks) reject NaN/Inf
// with the position of the first offending value.
void check_finite_input(const Eigen::Ref<const Eigen::MatrixXf>& X) {
  if (X.allFinite()) return;
  for (Eigen::Index b = 0; b < X.cols(); ++b)
    for (Eigen::Index i = 0; i < X.rows(); ++i)
      if (!std::isfinite(X(i, b)))
        throw InputError("input holds a non-finite value (" + std::to_string(X(i, b)) + ") at example " +
                         std::to_string(b) + ", feature " + std::to_string(i));
}

// Sum and count of the z_j > t. Sixteen independent lanes, added in a fixed order at the end
// (a single accumulator would need reassociation to vectorise), so the result is the same on
// every run. Written as one 16-float array operation per step: as a loop over 16 scalar lanes,
// GCC vectorised it across steps with permutes, 9x slower (about 2 cycles per unit, an eighth
// of a bio-rule epoch, where the inhibition's Newton steps call it ~7 times per example). The
// sums are the same: a is 0 or 1, so a * z is exact and each lane adds its terms in index order.
double sum_above(const float* z, Eigen::Index n, float t, int& count) {
  constexpr int kLanes = 16;
  using Lanes = Eigen::Array<float, kLanes, 1>;
  Lanes s = Lanes::Zero(), c = Lanes::Zero();
  Eigen::Index j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    const Eigen::Map<const Lanes> zj(z + j);
    const Lanes a = (zj > t).select(Lanes::Constant(1.0F), Lanes::Constant(0.0F));
    c += a;
    s += a * zj;
  }
  double sum = 0.0, cnt = 0.0;
  for (; j < n; ++j)
    if (z[j] > t) {
      sum += z[j];
      cnt += 1.0;
    }
  for (int l = 0; l < kLanes; ++l) {
    sum += s[l];
    cnt += c[l];
  }
  count = static_cast<int>(cnt);
  return sum;
}

// Inhibition level of one example's excitatory drives z (docs/RULE.md, H2).
// feedback_inhibition: I = g * sum_j max(0, z_j - I), solved exactly (Newton, see below).
void compete(const Layer& L, const float* z, Eigen::Index n, float& level, int& active, int& unit) {
  unit = -1;
  if (L.competition == Competition::kwta) {
    const auto k = static_cast<Eigen::Index>(L.kwta_k);
    if (k >= n) {
      level = -std::numeric_limits<float>::infinity();
      active = static_cast<int>(n);
      return;
    }
    // The (k+1)-th largest drive, with the lowest index among ties (deterministic).
    std::vector<std::pair<float, int>> v(static_cast<std::size_t>(n));
    for (Eigen::Index j = 0; j < n; ++j) v[static_cast<std::size_t>(j)] = {z[j], static_cast<int>(j)};
    auto cmp = [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    std::nth_element(v.begin(), v.begin() + k, v.end(), cmp);
    level = v[static_cast<std::size_t>(k)].first;
    unit = v[static_cast<std::size_t>(k)].second;
    active = static_cast<int>(k);
    return;
  }
  const auto g = static_cast<float>(L.inhibition_gain);
  level = 0.0F;
  active = 0;
  if (n == 0) return;
  // The fixed point of I = g * sum_j max(0, z_j - I) by Newton's method on the convex,
  // decreasing, piecewise-linear f(I) = g * sum_j max(0, z_j - I) - I, started at I = 0 where
  // f >= 0: each step solves the equation exactly for the current active set {z_j > I}, I only
  // grows, and the set only shrinks, so the iteration ends (exactly) when the set stops
  // changing, after a few vectorised O(n) passes (no sort). Sums in a fixed order: the result
  // does not depend on the thread count.
  double I = 0.0;
  int m_prev = -1;
  for (Eigen::Index it = 0; it <= n; ++it) {
    int m = 0;
    const double sum = sum_above(z, n, static_cast<float>(I), m);
    if (m == 0) {  // no drive above I (at I = 0: no positive drive; nobody active)
      break;
    }
    if (m == m_prev) break;  // the active set did not change: I solves the equation for it
    I = g * sum / (1.0 + g * static_cast<double>(m));
    m_prev = m;
    active = m;
  }
  level = static_cast<float>(I);
}
}  // namespace

namespace {
// delta (in: dL/dy, out: dL/dz) through the activation and, if any, the competition.
void layer_derivative(const Layer& layer, const ForwardCache& cache, std::size_t l, Eigen::MatrixXf& delta,
                      BackwardScratch& scratch) {
  if (layer.competition == Competition::none) {
    times_derivative(layer.activation, cache.pre[l], cache.act[l], delta);
    return;
  }
  const Eigen::MatrixXf& pre = cache.pre[l];
  const Eigen::Index nE = layer.excitatory_count();
  // y = f(max(0, z - I)): through f (evaluated at the rectified value), then the rectification.
  Eigen::MatrixXf& rect = scratch.rect;  // reused across calls: no allocation per batch
  Eigen::MatrixXf& dtop = scratch.dtop;
  rect = pre.topRows(nE).cwiseMax(0.0F);
  dtop = delta.topRows(nE);
  const float leak = scratch.competition_leak;
  if (leak > 0.0F) scratch.dy = dtop;
  if (layer.divisive) {
    for (Eigen::Index b = 0; b < pre.cols(); ++b)
      if (cache.pool[l](b) > 0.0F) rect.col(b) /= cache.pool[l](b);
  }
  times_derivative(layer.activation, rect, cache.act[l].topRows(nE), dtop);
  if (layer.divisive) {
    // y = h / S with S = sum_k h_k: dL/dh_k = (dL/dy_k - sum_j dL/dy_j y_j) / S.
    for (Eigen::Index b = 0; b < pre.cols(); ++b) {
      const float S = cache.pool[l](b);
      if (!(S > 0.0F)) continue;
      const float proj = dtop.col(b).dot(rect.col(b));
      dtop.col(b) = (dtop.col(b).array() - proj) / S;
    }
  }
  dtop = (pre.topRows(nE).array() > 0.0F).select(dtop, 0.0F);
  // Through each pool's I(z): feedback: dI/dz_j = g / (1 + g m) for the pool's active j; kwta:
  // dI/dz_t = 1.
  const Eigen::Index pools = layer.inhibition_pools, n_pool = layer.pool_size();
  for (Eigen::Index b = 0; b < pre.cols(); ++b) {
    for (Eigen::Index q = 0; q < pools; ++q) {
      const Eigen::Index slot = b * pools + q, first = q * n_pool;
      const float total = dtop.col(b).segment(first, n_pool).sum();
      if (layer.competition == Competition::feedback_inhibition) {
        const int m = cache.active_count[l](slot);
        if (m == 0) continue;
        const auto g = static_cast<float>(layer.inhibition_gain);
        const float c = g / (1.0F + g * static_cast<float>(m)) * total;
        for (Eigen::Index j = first; j < first + n_pool; ++j)
          if (pre(j, b) > 0.0F) dtop(j, b) -= c;
      } else {
        const int t = cache.threshold_unit[l](slot);
        if (t >= 0) dtop(t, b) -= total;
      }
    }
  }
  // The surrogate (BackwardScratch::competition_leak): the silenced units' own path, added after
  // the exact terms so that the inhibition's share above is the exact one.
  if (leak > 0.0F) dtop = (pre.topRows(nE).array() > 0.0F).select(dtop, dtop + leak * scratch.dy);
  delta.topRows(nE) = dtop;
  delta.bottomRows(delta.rows() - nE).setZero();  // interneurons project nowhere downstream
}

// One row of the CSR product over NP packets of consecutive columns (Eigen's native SIMD packet:
// 16 floats with AVX-512): the accumulators stay in registers, so each non-zero costs NP loads
// and NP FMAs and no store.
using detail::FloatPacket;
constexpr int kPacket = detail::kFloatPacket;

template <int NP>
inline void csr_row_block(const int* inner, const float* value, int begin, int end, const float* rhs, Eigen::Index ld,
                          float* dst) {
  namespace ei = Eigen::internal;
  FloatPacket acc[NP];
  for (int k = 0; k < NP; ++k) acc[k] = ei::pset1<FloatPacket>(0.0F);
  for (int q = begin; q < end; ++q) {
    const FloatPacket v = ei::pset1<FloatPacket>(value[q]);
    const float* src = rhs + static_cast<Eigen::Index>(inner[q]) * ld;
    for (int k = 0; k < NP; ++k) acc[k] = ei::pmadd(v, ei::ploadu<FloatPacket>(src + k * kPacket), acc[k]);
  }
  for (int k = 0; k < NP; ++k) ei::pstoreu(dst + k * kPacket, acc[k]);
}

// Up to kMaxPackets packets per row block: at batch 100 (7 packets) one pass over the CSR covers
// every column, each non-zero reads 7 adjacent cache lines of the right-hand side (which the
// hardware prefetcher follows) and its loop overhead is shared by 7 FMAs. Blocks of 4 packets
// would take a second pass over the CSR, which BM_SilentProjection measured as slower.
constexpr int kMaxPackets = 8;
// kernel_table<N>(make): {make(1), ..., make(N)}, where make receives the count as a compile-time
// constant and returns a pointer to that instantiation of a kernel template (a run-time count
// then picks a kernel whose loops were unrolled for it).
template <int N, class Make>
constexpr auto kernel_table(Make make) {
  return [&]<int... I>(std::integer_sequence<int, I...>) {
    return std::array{make(std::integral_constant<int, I + 1>{})...};
  }
  (std::make_integer_sequence<int, N>{});
}
constexpr auto kCsrRowKernels = kernel_table<kMaxPackets>([](auto n) { return &csr_row_block<n()>; });

// One P x P block (P = the SIMD packet width) through registers: P packet loads at src + j * lds,
// one in-register transpose, packet i stored at dst + i * ldd for i < stored.
// With `copy`, the P loaded packets are also stored unchanged at copy + j * ldc (a plain copy
// of the block made in the same sweep). store(i, packet) stores packet i of the transposed block.
template <class Store>
inline void transpose_block_with(const float* src, Eigen::Index lds, Store store, int stored = kPacket,
                                 float* copy = nullptr, Eigen::Index ldc = 0) {
  namespace ei = Eigen::internal;
// GCC warns that the packet type's vector attributes are dropped as a template argument; Eigen's
// own headers use the same PacketBlock (they are system headers, so there it is silent).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
  ei::PacketBlock<FloatPacket, kPacket> block;
#pragma GCC diagnostic pop
  for (int j = 0; j < kPacket; ++j) block.packet[j] = ei::ploadu<FloatPacket>(src + j * lds);
  if (copy != nullptr)
    for (int j = 0; j < kPacket; ++j) ei::pstoreu(copy + j * ldc, block.packet[j]);
  ei::ptranspose(block);
  if (stored == kPacket) {  // a constant trip count: unrolled, the block stays in registers
    for (int i = 0; i < kPacket; ++i) store(i, block.packet[i]);
  } else {
    for (int i = 0; i < stored; ++i) store(i, block.packet[i]);
  }
}
inline void transpose_block(const float* src, Eigen::Index lds, float* dst, Eigen::Index ldd, int stored = kPacket,
                            float* copy = nullptr, Eigen::Index ldc = 0) {
  transpose_block_with(
      src, lds, [&](int i, const FloatPacket& packet) { Eigen::internal::pstoreu(dst + i * ldd, packet); }, stored,
      copy, ldc);
}

// dst(r, c) = src(r, c) for a col-major src [rows x cols] (leading dimension lds) written
// row-major (row r at dst + r * ldd), the padding columns [cols, ldd) of each row set to 0: a
// transposing copy. Whole P x P tiles go through transpose_block; the ragged edges are copied one
// float at a time. Called inside a parallel region: tiles of rows are shared out with `omp for` (each
// element is written once, so the copy is thread-count independent). A scalar strided copy here
// cost more than the sparse product itself.
// With `copy` (col-major, leading dimension ldc), src is also copied there unchanged in the same
// sweep: forward()'s act[0] = X, which otherwise was a pass of its own over X.
void transpose_copy(const float* src, Eigen::Index rows, Eigen::Index cols, Eigen::Index lds, float* dst,
                    Eigen::Index ldd, float* copy = nullptr, Eigen::Index ldc = 0) {
  const Eigen::Index row_tiles = rows / kPacket, col_tiles = cols / kPacket;
  // The padding is zeroed in the same sweep, while the row is in cache (a setZero of the padding
  // columns afterwards was a second strided pass, a short `rep stos` per row).
  const auto edge = [&](Eigen::Index r, Eigen::Index c_begin) {
    for (Eigen::Index c = c_begin; c < cols; ++c) {
      dst[r * ldd + c] = src[c * lds + r];
      if (copy != nullptr) copy[c * ldc + r] = src[c * lds + r];
    }
    std::fill(dst + r * ldd + cols, dst + (r + 1) * ldd, 0.0F);
  };
#pragma omp for schedule(static) nowait
  for (Eigen::Index t = 0; t < row_tiles; ++t) {
    const Eigen::Index r0 = t * kPacket;
    for (Eigen::Index c0 = 0; c0 < col_tiles * kPacket; c0 += kPacket)
      transpose_block(src + c0 * lds + r0, lds, dst + r0 * ldd + c0, ldd, kPacket,
                      copy != nullptr ? copy + c0 * ldc + r0 : nullptr, ldc);
    for (Eigen::Index r = r0; r < r0 + kPacket; ++r) edge(r, col_tiles * kPacket);
  }
#pragma omp for schedule(static) nowait
  for (Eigen::Index r = row_tiles * kPacket; r < rows; ++r) edge(r, 0);
}

// Stores packet p at dst, bypassing the caches when `stream` (AVX-512 builds only; dst must then
// be 64-byte aligned): for results too large to stay in cache that nothing reads right after.
inline void store_packet(float* dst, const FloatPacket& p, bool stream) {
#ifdef __AVX512F__
  if constexpr (kPacket == 16) {
    if (stream) {
      _mm512_stream_ps(dst, p);
      return;
    }
  }
#endif
  (void)stream;
  Eigen::internal::pstoreu(dst, p);
}

// What csr_times_dense does to each result element as it stores it: out = sum + bias(row), then
// act = f(out), with f the identity or ReLU (add_bias_and_activate fused into the store, while
// the tile is in registers; as a pass of its own over the [m x B] result it took 17 % of a sparse
// forward pass at batch 1000). Only these two activations: max(x, 0) and the copy are exact, so
// the fused store gives the same floats as Eigen's expressions whatever their vectorisation,
// while exp or tanh would differ in the last bit between Eigen's packet and scalar paths.
struct TileEpilogue {
  const float* bias = nullptr;  // [m]; nullptr: no epilogue, the sums are stored as they are
  float* act = nullptr;         // col-major [m x B], the same layout as out
  bool relu = false;            // f = ReLU (else the identity)
  bool stream_pre = false;      // out bypasses the caches (set by csr_times_dense, see there)
};

// Writes rows [r0, r0 + n) x columns [c0, c0 + width) of a column-major out [m x B] from a
// row-major tile [n x kBlock] (n <= kPacket): whole P x P blocks through transpose_block, only
// the columns < B stored (the tile's columns past B are padding). A tile with fewer than kPacket
// rows (the last one when m is not a multiple of P) is copied one float at a time.
void store_tile_transposed(const float* tile, Eigen::Index ldt, Eigen::Index n, Eigen::Index r0, Eigen::Index c0,
                           Eigen::Index width, Eigen::Index B, float* out, Eigen::Index m, const TileEpilogue& epi) {
  namespace ei = Eigen::internal;
  const Eigen::Index columns = std::min(width, B - c0);
  if (n < kPacket) {
    for (Eigen::Index c = 0; c < columns; ++c)
      for (Eigen::Index i = 0; i < n; ++i) {
        const Eigen::Index at = (c0 + c) * m + r0 + i;
        out[at] = tile[i * ldt + c];
        if (epi.bias == nullptr) continue;
        out[at] += epi.bias[r0 + i];
        // std::max(x, 0), as Eigen's scalar cwiseMax (NaN stays NaN).
        epi.act[at] = epi.relu ? std::max(out[at], 0.0F) : out[at];
      }
    return;
  }
  if (epi.bias == nullptr) {
    for (Eigen::Index j0 = 0; j0 < columns; j0 += kPacket)
      transpose_block(tile + j0, ldt, out + (c0 + j0) * m + r0, m,
                      static_cast<int>(std::min<Eigen::Index>(kPacket, columns - j0)));
    return;
  }
  const FloatPacket bias = ei::ploadu<FloatPacket>(epi.bias + r0), zero = ei::pset1<FloatPacket>(0.0F);
  const auto blocks = [&]<bool kRelu>() {
    for (Eigen::Index j0 = 0; j0 < columns; j0 += kPacket) {
      float* z = out + (c0 + j0) * m + r0;
      float* a = epi.act + (c0 + j0) * m + r0;
      transpose_block_with(
          tile + j0, ldt,
          [&](int i, const FloatPacket& sum) {
            const FloatPacket pre = ei::padd(sum, bias);
            store_packet(z + i * m, pre, epi.stream_pre);
            // Eigen's packet max for cwiseMax(0): pmax(x, 0), NaN-propagating as std::max(x, 0).
            ei::pstoreu(a + i * m, kRelu ? ei::pmax(pre, zero) : pre);
          },
          static_cast<int>(std::min<Eigen::Index>(kPacket, columns - j0)));
    }
  };
  if (epi.relu)
    blocks.template operator()<true>();
  else
    blocks.template operator()<false>();
}

// out = S * X for CSR S [m x k] and dense X [k x B]. Eigen's own sparse x dense product walks
// X's rows with stride k and, threaded, slowed down by two orders of magnitude on a busy 2-core
// machine; here X is copied to row-major (transpose_copy), its rows padded with zeros to a whole
// number of SIMD packets, and each row of the result is accumulated in registers over blocks of
// up to kMaxPackets packets (128 columns with AVX-512). Rows of the result go in tiles of one
// packet's height: a tile is computed into a small buffer (it stays in L1) and written straight
// to column-major out through in-register transposes, so no [m x B] row-major intermediate is
// written and read back, and no barrier separates the product from that copy.
// Tiles are split statically over threads; each element is summed by one thread in CSR order, so
// the result does not depend on the thread count.
// X is col-major [k x B] at x with leading dimension ldx. Optional, done in the same sweeps:
// `x_copy` (col-major [k x B], leading dimension k) receives a copy of X, and `epi` adds the
// bias and applies the activation as the result is stored (epi.act must be [m x B]).
void csr_times_dense(const Eigen::SparseMatrix<float, Eigen::RowMajor>& S, const float* x, Eigen::Index ldx,
                     Eigen::Index B, Eigen::MatrixXf& out, ForwardCache::SparseScratch& scratch,
                     float* x_copy = nullptr, TileEpilogue epi = {}) {
  constexpr Eigen::Index kBlock = kMaxPackets * kPacket, kPad = kPacket;
  const Eigen::Index k = S.cols(), ld = (B + kPad - 1) / kPad * kPad, m = S.rows();
  scratch.rhs.resize(k, ld);  // transpose_copy writes its padding columns too
  out.resize(m, B);
  // With an epilogue, out (pre) bypasses the caches when it is large (from 4 MB: batch 1000 of a
  // 2000-unit layer is 8 MB) and every packet store is 64-byte aligned (aligned columns; tiles
  // start at multiples of 16 rows): nothing in the forward pass reads pre again (the next layer
  // reads act), so the stores need not evict what the next pass reads (BM_SilentProjection at
  // batch 1000 measures the gain). act is not streamed: the readout reads it next. Nor is pre at
  // batch 100, where it (0.8 MB) stays in cache for the backward pass.
  epi.stream_pre = epi.bias != nullptr && m * B >= (Eigen::Index{1} << 20) && m % kPacket == 0 &&
                   reinterpret_cast<std::uintptr_t>(out.data()) % 64 == 0;
  const int* outer = S.outerIndexPtr();
  const int* inner = S.innerIndexPtr();
  const float* value = S.valuePtr();
  const Eigen::Index tiles = (m + kPacket - 1) / kPacket;
  float* rhs = scratch.rhs.data();
#pragma omp parallel
  {
    transpose_copy(x, k, B, ldx, rhs, ld, x_copy, k);
#pragma omp barrier
    alignas(64) float tile[kPacket * kBlock];
    // Column blocks outermost: every tile reads the same kBlock-wide slice of X's copy, which so
    // stays in cache (tiles inside, column blocks inside them, made a 2000 x 1000 right-hand side
    // stream through its whole 8 MB for each tile).
    for (Eigen::Index c0 = 0; c0 < ld; c0 += kBlock) {
      const Eigen::Index width = std::min(kBlock, ld - c0);
      const auto kernel = kCsrRowKernels[static_cast<std::size_t>(width / kPacket) - 1];
#pragma omp for schedule(static) nowait
      for (Eigen::Index t = 0; t < tiles; ++t) {
        const Eigen::Index r0 = t * kPacket, n = std::min<Eigen::Index>(kPacket, m - r0);
        for (Eigen::Index i = 0; i < n; ++i) {
          const Eigen::Index row = r0 + i;
          kernel(inner, value, outer[row], outer[row + 1], rhs + c0, ld, tile + i * kBlock);
        }
        store_tile_transposed(tile, kBlock, n, r0, c0, width, B, out.data(), m, epi);
      }
    }
#ifdef __AVX512F__
    // Streamed stores are visible to the other threads after the region's barrier.
    if (epi.stream_pre) _mm_sfence();
#endif
  }
}

// Projections with few outputs (the 10-neuron readout, 2000 -> 10): Eigen's GEMM packs the whole
// [k x B] right-hand side for a product with only m rows; in a sparse forward pass at 95 % silent
// that packing took 16 % of the time (perf, 2026-12-01). Here each output is a dot product of a
// row-major weight row with a column of the input, vectorised along k: NB columns at a time share
// each weight load, all m x NB accumulators stay in registers, and each column is summed by one
// thread in the same order whatever NB, so the result does not depend on the thread count.
constexpr int kThinRows = 12;
constexpr int kThinColumns = kPacket >= 16 ? 2 : 1;  // 2 x 12 accumulators fit AVX-512's 32 registers
// Whether the forward and input-gradient products of p run on these kernels (an empty layer never
// indexes their tables).
bool runs_thin(const Projection& p) {
  return p.num_post() >= 1 && p.num_post() <= kThinRows;
}

template <int M, int NB>
void thin_block(const float* w, Eigen::Index k, const float* a, Eigen::Index lda, float* out) {
  namespace ei = Eigen::internal;
  FloatPacket acc[NB][M];
  for (int c = 0; c < NB; ++c)
    for (int r = 0; r < M; ++r) acc[c][r] = ei::pset1<FloatPacket>(0.0F);
  const Eigen::Index whole = k / kPacket * kPacket;
  for (Eigen::Index j = 0; j < whole; j += kPacket) {
    FloatPacket x[NB];
    for (int c = 0; c < NB; ++c) x[c] = ei::ploadu<FloatPacket>(a + c * lda + j);
    for (int r = 0; r < M; ++r) {
      const FloatPacket wr = ei::ploadu<FloatPacket>(w + r * k + j);
      for (int c = 0; c < NB; ++c) acc[c][r] = ei::pmadd(x[c], wr, acc[c][r]);
    }
  }
  for (int c = 0; c < NB; ++c)
    for (int r = 0; r < M; ++r) {
      float s = ei::predux(acc[c][r]);
      for (Eigen::Index j = whole; j < k; ++j) s += w[r * k + j] * a[c * lda + j];
      out[c * M + r] = s;
    }
}

// kThinKernels[n - 1] computes n output rows for kThinColumns columns; kThinKernels1 for one.
constexpr auto kThinKernels = kernel_table<kThinRows>([](auto n) { return &thin_block<n(), kThinColumns>; });
constexpr auto kThinKernels1 = kernel_table<kThinRows>([](auto n) { return &thin_block<n(), 1>; });

// out [m x B] = W [m x k, row-major] * A [k x B], for m <= kThinRows.
void thin_times_dense(const WeightMatrix& W, const Eigen::MatrixXf& A, Eigen::MatrixXf& out) {
  const Eigen::Index m = W.rows(), k = W.cols(), B = A.cols();
  out.resize(m, B);
  const auto kernel = kThinKernels[static_cast<std::size_t>(m) - 1];
  const auto kernel1 = kThinKernels1[static_cast<std::size_t>(m) - 1];
  const Eigen::Index groups = (B + kThinColumns - 1) / kThinColumns;
#pragma omp parallel for schedule(static) if (m * k * B >= 200000)
  for (Eigen::Index g = 0; g < groups; ++g) {
    const Eigen::Index b = g * kThinColumns;
    if (b + kThinColumns <= B)
      kernel(W.data(), k, A.data() + b * k, k, out.data() + b * m);
    else
      for (Eigen::Index c = b; c < B; ++c) kernel1(W.data(), k, A.data() + c * k, k, out.data() + c * m);
  }
}

// out [k x B] = W^T D for W [m x k, row-major], D [m x B], m <= kThinRows: the input gradient of a
// projection with few outputs. Per column of D its m entries sit in registers as broadcasts, and
// each packet of the result is the sum over the m weight rows (m loads, m FMAs, one store), in
// the same order for every packet, by one thread per column.
template <int M>
void thin_transposed_column(const float* w, Eigen::Index k, const float* d, float* out) {
  namespace ei = Eigen::internal;
  FloatPacket dr[M];
  for (int r = 0; r < M; ++r) dr[r] = ei::pset1<FloatPacket>(d[r]);
  const Eigen::Index whole = k / kPacket * kPacket;
  for (Eigen::Index j = 0; j < whole; j += kPacket) {
    FloatPacket acc = ei::pmul(dr[0], ei::ploadu<FloatPacket>(w + j));
    for (int r = 1; r < M; ++r) acc = ei::pmadd(dr[r], ei::ploadu<FloatPacket>(w + r * k + j), acc);
    ei::pstoreu(out + j, acc);
  }
  for (Eigen::Index j = whole; j < k; ++j) {
    float s = d[0] * w[j];
    for (int r = 1; r < M; ++r) s += d[r] * w[r * k + j];
    out[j] = s;
  }
}

constexpr auto kThinTransposedKernels = kernel_table<kThinRows>([](auto n) { return &thin_transposed_column<n()>; });

void thin_transposed_times_dense(const WeightMatrix& W, const Eigen::MatrixXf& D, Eigen::MatrixXf& out) {
  const Eigen::Index m = W.rows(), k = W.cols(), B = D.cols();
  out.resize(k, B);
  const auto kernel = kThinTransposedKernels[static_cast<std::size_t>(m) - 1];
#pragma omp parallel for schedule(static) if (m * k * B >= 200000)
  for (Eigen::Index b = 0; b < B; ++b) kernel(W.data(), k, D.data() + b * m, out.data() + b * k);
}

// y = f(x), element-wise, for one column (x, y: Eigen array expressions of the same size).
template <class In, class Out>
void activate(Activation f, const In& x, Out y) {
  switch (f) {
    case Activation::identity:
      y = x;
      return;
    case Activation::relu:
      y = x.cwiseMax(0.0F);
      return;
    case Activation::sigmoid:
      y = (1.0F + (-x).exp()).inverse();
      return;
    case Activation::sigmoid2:
      y = 2.0F * (1.0F + (-x).exp()).inverse() - 1.0F;
      return;
    case Activation::tanh:
      y = x.tanh();
      return;
  }
}

// z += bias (per row), then act = f(z): one pass per column, columns shared out over threads when
// the layer is large (elementwise, so the result does not depend on the thread count).
void add_bias_and_activate(Activation f, const Eigen::VectorXf& bias, Eigen::MatrixXf& z, Eigen::MatrixXf& act) {
  act.resize(z.rows(), z.cols());
#pragma omp parallel for schedule(static) if (z.size() >= 65536)
  for (Eigen::Index b = 0; b < z.cols(); ++b) {
    z.col(b) += bias;
    activate(f, z.col(b).array(), act.col(b).array());
  }
}

// The weights projection l multiplies by: its own (linear efficacy) or the effective ones that
// prepare_projection computed for this pass.
const WeightMatrix& product_weight(const Projection& p, const ForwardCache& cache, std::size_t l) {
  return p.efficacy == Efficacy::linear ? p.weight : cache.effective[l];
}

// How projection l runs: its entry of projection_execution where it has one, else execution.
Execution execution_of(const ForwardCache& cache, std::size_t l) {
  return l < cache.projection_execution.size() ? cache.projection_execution[l] : cache.execution;
}

// Computes what projection l needs for this pass: its effective weights (non-linear efficacy)
// and, when it runs sparse, their CSR form. Weights that change every pass (training) always run
// dense: building CSR would cost as much as the dense product it saves.
void prepare_projection(const Projection& p, std::size_t l, ForwardCache& cache) {
  if (p.efficacy != Efficacy::linear) p.effective_weight(cache.effective[l]);
  const WeightMatrix& w = product_weight(p, cache, l);
  const Execution execution = execution_of(cache, l);
  bool sparse = execution == Execution::sparse;
  if (execution == Execution::automatic && cache.weights_fixed) {
    const auto zeros = static_cast<double>((w.array() == 0.0F).count());
    sparse = zeros >= kSparseZeroFraction * static_cast<double>(w.size());
  }
  cache.sparse_active[l] = sparse ? 1 : 0;
  Eigen::Index live = w.rows();
  if (p.efficacy != Efficacy::linear)
    // Sum of |w| (vectorised; NaN or Inf keep a row live): the element-wise "== 0 .all()" ran as a
    // scalar loop over the 500 interneuron rows of a bio network, ~7 % of a bio-rule epoch.
    while (live > 0 && w.row(live - 1).cwiseAbs().sum() == 0.0F) --live;
  cache.live_rows[l] = live;
  if (sparse) {
    cache.sparse[l] = w.sparseView(0.0F, 0.0F);
    cache.sparse[l].makeCompressed();
    cache.sparse_t[l] = cache.sparse[l].transpose();
  } else if (cache.sparse[l].outerSize() != 0 || cache.sparse_t[l].outerSize() != 0) {
    // Eigen's SparseMatrix::resize allocates its outer index even for 0 x 0, so an empty one is
    // left alone (2 allocations per projection per training batch otherwise).
    cache.sparse[l].resize(0, 0);
    cache.sparse_t[l].resize(0, 0);
  }
  cache.prepared[l] = p.weight.data();
  cache.prepared_shape[l] = {p.num_post(), p.num_pre()};
}
// Whether projection l's forward product runs on EfficacyPanels (src/net/efficacy.hpp): a
// log_normalized projection whose weights change between passes (training), in a cache that
// serves no backward pass, dense, on dalenet's kernel. Its effective weights are then never
// stored (cache.effective[l] is not this pass's).
bool runs_efficacy_panels(const Projection& p, std::size_t l, const ForwardCache& cache) {
  const Execution execution = execution_of(cache, l);
  return detail::kOwnSgemm && cache.forward_only && !cache.weights_fixed && p.efficacy != Efficacy::linear &&
         execution != Execution::sparse && !runs_thin(p);
}

// z = effective(W) x, the effective weights computed as the GEMM packs them. Rows after the last
// one with input synapses (the interneurons) are not multiplied (as live_rows; the rows in between
// without any give 0 either way).
void efficacy_panel_product(const Projection& p, std::size_t l, ForwardCache& cache, Eigen::MatrixXf& z) {
  auto& rows = cache.row_magnitudes;
  rows.resize(static_cast<std::size_t>(p.num_post()));
#pragma omp parallel for schedule(static) if (p.num_post() >= 64)
  for (Eigen::Index i = 0; i < p.num_post(); ++i) rows[static_cast<std::size_t>(i)] = row_magnitude(p.weight.row(i));
  Eigen::Index live = p.num_post();
  while (live > 0 && !(rows[static_cast<std::size_t>(live - 1)].sum > 0.0F)) --live;
  const detail::EfficacyPanels panels(p, rows);
  detail::split_rows_panel_product(z.topRows(live), panels, cache.act[l]);
  z.bottomRows(z.rows() - live).setZero();
  cache.live_rows[l] = live;
  cache.sparse_active[l] = 0;
  cache.prepared[l] = nullptr;  // nothing prepared from these weights for a later pass
}
}  // namespace

namespace {

void size_cache(const Network& net, ForwardCache& cache) {
  const std::size_t L = net.layers.size();
  cache.pre.resize(L);
  cache.act.resize(L);
  cache.inhibition.resize(L);
  cache.active_count.resize(L);
  cache.threshold_unit.resize(L);
  cache.effective.resize(L);
  cache.pool.resize(L);
  cache.prepared.resize(L, nullptr);
  cache.prepared_shape.resize(L);
  cache.sparse_active.resize(L, 0);
  cache.live_rows.resize(L, 0);
  cache.sparse.resize(L);
  cache.sparse_t.resize(L);
}

// pre[l + 1] = the drive of projection l from act[l] (X for l = 0, which this also copies into
// act[0]). Returns whether the product also stored act[l + 1] (bias and f fused into a sparse
// product's store).
bool project_layer(const Network& net, std::size_t l, const Eigen::Ref<const Eigen::MatrixXf>& X, ForwardCache& cache) {
  const auto& p = net.projections[l];
  const Layer& layer = net.layers[l + 1];
  auto& z = cache.pre[l + 1];
  z.resize(p.num_post(), X.cols());
  // act[0] = X, a column per thread (serial, the copy kept the other threads waiting once per pass).
  const auto copy_input = [&] {
#pragma omp parallel for schedule(static) if (X.size() >= 65536)
    for (Eigen::Index b = 0; b < X.cols(); ++b) cache.act[0].col(b) = X.col(b);
  };
  // Reuse only what was prepared from these very weights (a cache may meet another network).
  const bool reuse = cache.weights_fixed && cache.prepared[l] == p.weight.data() &&
                     cache.prepared_shape[l] == std::pair{p.num_post(), p.num_pre()};
  const bool panels = runs_efficacy_panels(p, l, cache);
  if (!panels && !reuse) prepare_projection(p, l, cache);
  // The first sparse projection copies X into act[0] in its own sweep over X; every other
  // path copies it first.
  const bool sparse = !panels && cache.sparse_active[l] != 0;
  if (l == 0 && !sparse) copy_input();
  // A sparse projection into a layer without competition whose f is exact (ReLU, identity)
  // adds the bias and applies f as it stores its result (TileEpilogue).
  const bool fused = sparse && layer.competition == Competition::none &&
                     (layer.activation == Activation::relu || layer.activation == Activation::identity);
  if (panels) {
    efficacy_panel_product(p, l, cache, z);
  } else if (sparse) {
    TileEpilogue epi;
    if (fused) {
      cache.act[l + 1].resize(p.num_post(), X.cols());
      epi = {p.bias.data(), cache.act[l + 1].data(), layer.activation == Activation::relu};
    }
    if (l == 0)
      csr_times_dense(cache.sparse[l], X.data(), X.outerStride(), X.cols(), z, cache.sparse_scratch,
                      cache.act[0].data(), epi);
    else
      csr_times_dense(cache.sparse[l], cache.act[l].data(), cache.act[l].rows(), X.cols(), z, cache.sparse_scratch,
                      nullptr, epi);
  } else if (runs_thin(p)) {
    thin_times_dense(product_weight(p, cache, l), cache.act[l], z);
  } else if (p.efficacy == Efficacy::linear) {
    detail::split_rows_product(z, p.weight, cache.act[l]);
  } else {
    const Eigen::Index live = cache.live_rows[l];
    detail::split_rows_product(z.topRows(live), cache.effective[l].topRows(live), cache.act[l]);
    z.bottomRows(z.rows() - live).setZero();
  }
  return fused;
}

// act[l + 1] from the drive pre[l + 1]: the bias, competition and f of layer l + 1.
void finish_layer(const Network& net, std::size_t l, ForwardCache& cache) {
  const auto& p = net.projections[l];
  const Layer& layer = net.layers[l + 1];
  auto& z = cache.pre[l + 1];
  if (layer.competition == Competition::none) {
    add_bias_and_activate(layer.activation, p.bias, z, cache.act[l + 1]);
    return;
  }
  const Eigen::Index nE = layer.excitatory_count(), B = z.cols(), nI = z.rows() - nE;
  const Eigen::Index pools = layer.inhibition_pools, n_pool = layer.pool_size();
  cache.inhibition[l + 1].resize(B * pools);
  cache.active_count[l + 1].resize(B * pools);
  cache.threshold_unit[l + 1].resize(B * pools);
  if (layer.divisive) cache.pool[l + 1].resize(B);
  Eigen::MatrixXf& rect = cache.rect;
  Eigen::MatrixXf& act = cache.act[l + 1];
  rect.resize(z.rows(), B);
  act.resize(z.rows(), B);
  // Examples are independent (each column's fixed point is its own): shared out over threads,
  // each column computed by one thread, so the result does not depend on the thread count. The
  // bias, the rectification and f are applied in the same sweep (as separate whole-matrix passes
  // they ran on one thread).
#pragma omp parallel for schedule(static) if (B >= 16)
  for (Eigen::Index b = 0; b < B; ++b) {
    z.col(b) += p.bias;
    // Each pool competes within itself (H6b); one pool is the whole layer. An interneuron carries
    // its pool's level: interneuron k belongs to pool k * pools / N_I.
    for (Eigen::Index q = 0; q < pools; ++q) {
      float level = 0.0F;
      int active = 0, unit = -1;
      compete(layer, z.col(b).data() + q * n_pool, n_pool, level, active, unit);
      const Eigen::Index slot = b * pools + q;
      cache.inhibition[l + 1](slot) = level;
      cache.active_count[l + 1](slot) = active;
      cache.threshold_unit[l + 1](slot) = unit < 0 ? unit : static_cast<int>(q * n_pool + unit);
      z.col(b).segment(q * n_pool, n_pool).array() -= level;
      const float carried = std::isfinite(level) ? level : 0.0F;
      for (Eigen::Index k = q * nI / pools; k < (q + 1) * nI / pools; ++k) z(nE + k, b) = carried;
    }
    rect.col(b).head(nE) = z.col(b).head(nE).cwiseMax(0.0F);
    rect.col(b).tail(nI) = z.col(b).tail(nI);
    if (layer.divisive) {
      const float pool = rect.col(b).head(nE).sum();
      cache.pool[l + 1](b) = pool;
      if (pool > 0.0F) rect.col(b).head(nE) /= pool;
    }
    activate(layer.activation, rect.col(b).head(nE).array(), act.col(b).head(nE).array());
    act.col(b).tail(nI) = z.col(b).tail(nI);  // interneurons carry I
  }
}

}  // namespace

void forward(const Network& net, const Eigen::Ref<const Eigen::MatrixXf>& X, ForwardCache& cache) {
  if (X.rows() != net.input_size())
    throw InputError("input has " + std::to_string(X.rows()) + " features per example, network expects " +
                     std::to_string(net.input_size()));
  size_cache(net, cache);
  cache.act[0].resize(X.rows(), X.cols());
  for (std::size_t l = 0; l + 1 < net.layers.size(); ++l)
    if (!project_layer(net, l, X, cache)) finish_layer(net, l, cache);
}

void detail::forward_from_first_drive(const Network& net, const Eigen::Ref<const Eigen::MatrixXf>& drive,
                                      ForwardCache& cache) {
  if (net.projections.empty() || drive.rows() != net.projections[0].num_post())
    throw InputError("first-layer drive has " + std::to_string(drive.rows()) + " rows, the network's first layer " +
                     std::to_string(net.projections.empty() ? 0 : net.projections[0].num_post()) + " neurons");
  size_cache(net, cache);
  cache.act[0].resize(0, drive.cols());  // not kept: this cache serves no backward pass
  cache.pre[1] = drive;
  finish_layer(net, 0, cache);
  for (std::size_t l = 1; l + 1 < net.layers.size(); ++l)
    if (!project_layer(net, l, cache.act[l], cache)) finish_layer(net, l, cache);
}

Eigen::MatrixXf predict_logits(const Network& net, const Eigen::Ref<const Eigen::MatrixXf>& X) {
  check_finite_input(X);
  ForwardCache cache;
  forward(net, X, cache);
  return cache.logits();
}

void flush_subnormals(Eigen::Ref<Eigen::MatrixXf> m) {
  const float smallest = std::numeric_limits<float>::min();
  m = (m.array().abs() < smallest).select(0.0F, m);
}

double softmax_cross_entropy(const Eigen::Ref<const Eigen::MatrixXf>& logits, std::span<const std::uint8_t> labels,
                             Reduction reduction, Eigen::MatrixXf* dlogits) {
  const Eigen::Index C = logits.rows(), B = logits.cols();
  if (static_cast<std::size_t>(B) != labels.size())
    throw InputError("logits have " + std::to_string(B) + " columns but " + std::to_string(labels.size()) +
                     " labels were given");
  if (dlogits != nullptr) dlogits->resize(C, B);
  const double scale = reduction == Reduction::mean && B > 0 ? 1.0 / static_cast<double>(B) : 1.0;
  double total = 0.0;
  for (Eigen::Index b = 0; b < B; ++b) {
    const int y = labels[static_cast<std::size_t>(b)];
    if (y >= C) throw InputError("label " + std::to_string(y) + " >= number of outputs " + std::to_string(C));
    const auto col = logits.col(b);
    const float m = col.maxCoeff();
    double sum = 0.0;
    for (Eigen::Index c = 0; c < C; ++c) sum += std::exp(static_cast<double>(col(c) - m));
    const double lse = static_cast<double>(m) + std::log(sum);
    total += lse - static_cast<double>(col(y));
    if (dlogits != nullptr) {
      for (Eigen::Index c = 0; c < C; ++c) {
        const double p = std::exp(static_cast<double>(col(c)) - lse);
        (*dlogits)(c, b) = static_cast<float>(scale * (p - (c == y ? 1.0 : 0.0)));
      }
    }
  }
  if (dlogits != nullptr) flush_subnormals(*dlogits);  // tiny probabilities: see the header
  return total * scale;
}

std::size_t count_correct(const Eigen::Ref<const Eigen::MatrixXf>& logits, std::span<const std::uint8_t> labels) {
  std::size_t correct = 0;
  for (Eigen::Index b = 0; b < logits.cols(); ++b) {
    Eigen::Index arg = 0;
    logits.col(b).maxCoeff(&arg);
    if (arg == labels[static_cast<std::size_t>(b)]) ++correct;
  }
  return correct;
}

void Gradients::resize_like(const Network& net) {
  weight.resize(net.projections.size());
  bias.resize(net.projections.size());
  for (std::size_t l = 0; l < net.projections.size(); ++l) {
    weight[l].resize(net.projections[l].weight.rows(), net.projections[l].weight.cols());
    bias[l].resize(net.projections[l].bias.size());
  }
}

void backward(const Network& net, const ForwardCache& cache, const Eigen::Ref<const Eigen::MatrixXf>& dlogits,
              Gradients* grads, Eigen::MatrixXf* input_grad, BackwardScratch& scratch) {
  const std::size_t L = net.layers.size();
  if (cache.act.size() != L) throw InputError("backward() called without a matching forward()");
  if (cache.forward_only) throw InputError("backward() called on a ForwardCache marked forward_only");
  if (dlogits.rows() != net.output_size() || dlogits.cols() != cache.act.back().cols())
    throw InputError("dlogits shape does not match the last forward pass");
  if (grads != nullptr) grads->resize_like(net);
  scratch.delta.resize(L);
  // delta[l] = dL/dpre[l] for l >= 1; delta[0] = dL/dX.
  scratch.delta[L - 1] = dlogits;
  layer_derivative(net.layers[L - 1], cache, L - 1, scratch.delta[L - 1], scratch);
  for (std::size_t l = L - 1; l >= 1; --l) {
    const auto& p = net.projections[l - 1];
    const Eigen::MatrixXf& d = scratch.delta[l];
    if (grads != nullptr) {
      if (p.efficacy == Efficacy::linear) {
        detail::split_rows_product(grads->weight[l - 1], d, cache.act[l - 1].transpose(), true);
      } else {  // dL/d(effective weight), then the chain rule through the efficacy
        detail::split_rows_product(scratch.d_effective, d, cache.act[l - 1].transpose(), true);
        p.efficacy_gradient(scratch.d_effective, grads->weight[l - 1]);
      }
      grads->bias[l - 1].noalias() = d.rowwise().sum();
      if (p.has_mask()) grads->weight[l - 1].array() *= p.mask.cast<float>().array();
    }
    const bool need_below = l > 1 || input_grad != nullptr;
    if (!need_below) break;
    auto& below = scratch.delta[l - 1];
    below.resize(p.num_pre(), d.cols());
    if (cache.sparse_active[l - 1] != 0) {
      csr_times_dense(cache.sparse_t[l - 1], d.data(), d.rows(), d.cols(), below, scratch.sparse);
    } else if (runs_thin(p)) {
      thin_transposed_times_dense(product_weight(p, cache, l - 1), d, below);
    } else if (p.efficacy == Efficacy::linear) {
      detail::split_rows_product(below, p.weight.transpose(), d, true);
    } else {
      const Eigen::Index live = cache.live_rows[l - 1];
      detail::split_rows_product(below, cache.effective[l - 1].topRows(live).transpose(), d.topRows(live), true);
    }
    if (l > 1) layer_derivative(net.layers[l - 1], cache, l - 1, below, scratch);
  }
  if (input_grad != nullptr) *input_grad = scratch.delta[0];
}

Eigen::MatrixXf input_gradient(const Network& net, const Eigen::Ref<const Eigen::MatrixXf>& X,
                               std::span<const std::uint8_t> labels) {
  check_finite_input(X);
  ForwardCache cache;
  forward(net, X, cache);
  Eigen::MatrixXf dlogits;
  softmax_cross_entropy(cache.logits(), labels, Reduction::sum, &dlogits);
  BackwardScratch scratch;
  Eigen::MatrixXf gx;
  backward(net, cache, dlogits, nullptr, &gx, scratch);
  return gx;
}

}  // namespace dalenet
