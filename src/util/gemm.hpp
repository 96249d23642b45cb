#pragma once
// dst = lhs * rhs through Eigen's own GEMM kernel, without a heap allocation per call (internal to
// the library: backprop.cpp's products, the bio rule's output step).
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <memory>
#include <type_traits>
#include <vector>

#include "util/sgemm.hpp"

namespace dalenet::detail {

// The threads Eigen's parallelize_gemm would give a rows x cols x depth product (its heuristic,
// Eigen 3.4), called outside a parallel region; 1 inside one. Eigen's depth blocking kc, and so
// the order of every sum, depends on it.
inline Eigen::Index eigen_gemm_threads(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth, bool row_major_dst) {
  if (omp_get_num_threads() > 1) return 1;
  const Eigen::Index size = row_major_dst ? rows : cols;
  const double work = static_cast<double>(rows) * static_cast<double>(cols) * static_cast<double>(depth);
  const Eigen::Index by_size = std::max<Eigen::Index>(1, size / Eigen::internal::gebp_traits<float, float>::nr);
  const Eigen::Index by_work =
      std::max<Eigen::Index>(1, std::min<Eigen::Index>(by_size, static_cast<Eigen::Index>(work / 50000)));
  return std::min<Eigen::Index>(Eigen::nbThreads(), by_work);
}

// dst = lhs * rhs on the calling thread through Eigen's own GEMM kernel, with packing buffers kept
// per thread and per shape instead of allocated on every call. Eigen's product expression builds a
// blocking object per call, and its two packing buffers (mc x kc and kc x nc floats, 100s of KB)
// come from the heap whenever they exceed EIGEN_STACK_ALLOCATION_LIMIT: 2 allocations per product
// and thread, 8 of a BP step's 12 (issue 8 asks for none per batch in the hot loops).
// The blocking here is built with the arguments Eigen's own product would use: the destination's
// shape and storage order and a thread count, by default the one Eigen's parallelize_gemm would
// choose for this product (1 inside a parallel region). Its depth blocking kc, and so the order of
// every sum, is then Eigen's: models and attacks computed through this function are bit-identical
// to those computed through Eigen's products (checked on the BP, EG, sign-constrained BP and bio
// configurations). The product runs on the calling thread: callers use it for products Eigen
// would not thread (product_into) and for each thread's share of a split one, passing as
// blocking_threads the count Eigen would have used for the whole (so that the share's sums are
// those of Eigen's threaded product of the whole; split_rows_product, src/net/backprop.cpp).
// Only the buffers persist (OpenMP's worker threads live as long as the process); a thread keeps
// them for the last 8 shapes it met. dst, lhs, rhs: matrices, blocks or transposes with unit inner
// stride.
template <typename Dst, typename Lhs, typename Rhs>
inline void gemm_reusing_buffers(Dst&& dst, const Lhs& lhs, const Rhs& rhs, Eigen::Index blocking_threads = 0) {
  namespace ei = Eigen::internal;
  using D = std::decay_t<Dst>;
  using L = std::decay_t<Lhs>;
  using R = std::decay_t<Rhs>;
  constexpr int kDstOrder = D::IsRowMajor ? Eigen::RowMajor : Eigen::ColMajor;
  using Blocking = ei::gemm_blocking_space<kDstOrder, float, float, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic>;
  struct Entry {
    Eigen::Index rows, cols, depth, threads;
    std::unique_ptr<Blocking> blocking;
  };
  thread_local std::vector<Entry> cache;
  const Eigen::Index rows = dst.rows(), cols = dst.cols(), depth = lhs.cols();
  const Eigen::Index threads =
      blocking_threads > 0 ? blocking_threads : eigen_gemm_threads(rows, cols, depth, D::IsRowMajor);
  auto it = std::find_if(cache.begin(), cache.end(), [&](const Entry& e) {
    return e.rows == rows && e.cols == cols && e.depth == depth && e.threads == threads;
  });
  if (it == cache.end()) {
    constexpr std::size_t kShapes = 8;  // bounds the memory a thread keeps (MBs per large shape)
    if (cache.size() == kShapes) cache.erase(cache.begin());
    cache.push_back({rows, cols, depth, threads, std::make_unique<Blocking>(rows, cols, depth, threads, true)});
    cache.back().blocking->allocateAll();
    it = cache.end() - 1;
  }
  dst.setZero();
  if (rows == 0 || cols == 0 || depth == 0) return;
  ei::general_matrix_matrix_product<Eigen::Index, float, L::IsRowMajor ? Eigen::RowMajor : Eigen::ColMajor, false,
                                    float, R::IsRowMajor ? Eigen::RowMajor : Eigen::ColMajor, false, kDstOrder,
                                    1>::run(rows, cols, depth, lhs.data(), lhs.outerStride(), rhs.data(),
                                            rhs.outerStride(), dst.data(), 1, dst.outerStride(), 1.0F, *it->blocking,
                                            nullptr);
}

// dst = lhs * rhs on the calling thread, through a GEMM kernel: dalenet's own (src/util/sgemm.hpp)
// where the build has it (AVX-512), whose sums do not depend on how a product is split;
// otherwise Eigen's, through gemm_reusing_buffers with blocking_threads as there.
template <typename Dst, typename Lhs, typename Rhs>
inline void gemm_one_thread(Dst&& dst, const Lhs& lhs, const Rhs& rhs, Eigen::Index blocking_threads = 0) {
  if constexpr (kOwnSgemm)
    sgemm(dst, lhs, rhs);
  else
    gemm_reusing_buffers(dst, lhs, rhs, blocking_threads);
}

// Whether Eigen evaluates a rows x cols x depth product with its GEMM kernel (Eigen 3.4).
inline bool eigen_uses_gemm(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth) {
  return rows > 1 && cols > 1 && depth + rows + cols >= 20;
}

// dst = lhs * rhs (dst already sized), single-threaded, without a heap allocation: a product
// that Eigen's `dst.noalias() = lhs * rhs` evaluates coefficient-wise or as a matrix-vector
// product (one row or column) as Eigen does, every other one through gemm_one_thread.
template <typename Dst, typename Lhs, typename Rhs>
inline void product_into(Dst&& dst, const Lhs& lhs, const Rhs& rhs) {
  if (eigen_uses_gemm(dst.rows(), dst.cols(), lhs.cols()))
    gemm_one_thread(dst, lhs, rhs);
  else
    dst.noalias() = lhs * rhs;
}

// Destination size (entries) from which split_rows_product shares a product's work out over the
// threads; smaller products are not worth a parallel region.
constexpr Eigen::Index kLargeProduct = 65536;

// Where share k of `parts` of a product's rows begins (k = parts: the end): the rows split evenly,
// the edges on multiples of the kernel's row panel.
inline Eigen::Index share_edge(Eigen::Index rows, Eigen::Index parts, Eigen::Index k, Eigen::Index panel) {
  return k == parts ? rows : std::min(rows, (rows * k / parts + panel / 2) / panel * panel);
}

// dst = lhs * rhs, the library's products of a batch (BP's forward pass and gradients, the bio
// rule's drive, the ReLU-iterate attacks' passes). A large product is split statically over the
// threads by rows of lhs (and of dst), each share one GEMM on one thread (gemm_one_thread, no
// allocation per call); a small one, or any with one thread, runs whole on the calling thread
// (product_into). Each share writes its own rows (dalenet's kernel stores its first depth block,
// Eigen's zeroes the share first): with `=`, Eigen zeroes the destination on one thread before its
// threaded GEMM, and that serial pass (3 MB per batch for the weight gradient at 784-1000) kept
// the second thread idle. Eigen's threaded GEMM also packs the
// right-hand side once, shared, and its threads wait on each other's panels; for BP's forward
// product (a row-major 1000 x 784 weight matrix times 784 x 128 activations, 2 threads) that
// waiting cost more than packing twice, so the split is faster even with Eigen's kernel. Each
// thread packs the whole right-hand side itself (784 x 128 floats here). Shares end on multiples
// of the kernel's row panel.
// Sums: with dalenet's kernel (AVX-512 builds) an entry does not depend on the split, so results
// are the same for every thread count. With Eigen's they depend on its depth blocking, which
// depends on the thread count Eigen would use; as_eigen_threaded: the shares use the blocking of
// Eigen's threaded product of the whole (the sums of `dst = lhs * rhs`; the weight and input
// gradients), otherwise each share of a large product is blocked for one thread (the forward
// products). Either way the same count gives the same results on every run.
template <typename Dst, typename Lhs, typename Rhs>
void split_rows_product(Dst&& dst, const Lhs& lhs, const Rhs& rhs, bool as_eigen_threaded = false) {
  // The GEMM kernel's row panel: 32 rows for dalenet's (src/util/sgemm.hpp), 48 for Eigen's.
  constexpr Eigen::Index kPanel = kOwnSgemm ? kPanelRows : 48;
  const Eigen::Index rows = dst.rows(), parts = std::max(1, Eigen::nbThreads());
  const bool large = dst.size() >= kLargeProduct;
  // What Eigen's `dst = lhs * rhs` would do: the threads of its GEMM (1 for a product that it
  // evaluates coefficient-wise or as a matrix-vector product, which product_into leaves to it).
  const Eigen::Index eigen_threads =
      eigen_uses_gemm(rows, dst.cols(), lhs.cols())
          ? eigen_gemm_threads(rows, dst.cols(), lhs.cols(), std::decay_t<Dst>::IsRowMajor)
          : 1;
  if (parts == 1 || (!large && eigen_threads == 1)) {
    product_into(dst, lhs, rhs);
    return;
  }
  // A product below kLargeProduct that Eigen would thread keeps Eigen's sums (its blocking).
  const Eigen::Index blocking_threads = as_eigen_threaded || !large ? eigen_threads : 1;
#pragma omp parallel for schedule(static)
  for (Eigen::Index k = 0; k < parts; ++k) {
    const Eigen::Index lo = share_edge(rows, parts, k, kPanel), hi = share_edge(rows, parts, k + 1, kPanel);
    if (hi > lo) gemm_one_thread(dst.middleRows(lo, hi - lo), lhs.middleRows(lo, hi - lo), rhs, blocking_threads);
  }
}

// dst = A * rhs with A produced by a PanelSource as it is packed (dalenet's kernel only; dst
// column-major), its rows shared out over the threads as split_rows_product shares them. Entries
// do not depend on the split (sgemm's sums), so neither do results on the thread count.
template <typename Dst, typename Rhs>
void split_rows_panel_product(Dst&& dst, const PanelSource& lhs, const Rhs& rhs) {
  static_assert(!std::decay_t<Dst>::IsRowMajor, "split_rows_panel_product: needs a column-major dst");
  Eigen::Index rs_b = 0, cs_b = 0;
  operand_strides(rhs, rs_b, cs_b);
  const Eigen::Index rows = dst.rows(), parts = std::max(1, Eigen::nbThreads());
  const auto run = [&](Eigen::Index lo, Eigen::Index hi) {
    sgemm(hi - lo, dst.cols(), rhs.rows(), lhs, lo, rhs.data(), rs_b, cs_b, dst.data() + lo, dst.outerStride());
  };
  if (parts == 1 || dst.size() < kLargeProduct) {
    run(0, rows);
    return;
  }
#pragma omp parallel for schedule(static)
  for (Eigen::Index k = 0; k < parts; ++k) {
    const Eigen::Index lo = share_edge(rows, parts, k, kPanelRows), hi = share_edge(rows, parts, k + 1, kPanelRows);
    if (hi > lo) run(lo, hi);
  }
}

}  // namespace dalenet::detail
