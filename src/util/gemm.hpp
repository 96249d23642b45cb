#pragma once
// dst = lhs * rhs through Eigen's own GEMM kernel, without a heap allocation per call (internal to
// the library: backprop.cpp's products, the bio rule's output step).
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <memory>
#include <type_traits>
#include <vector>

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

// dst = lhs * rhs (dst already sized), single-threaded, as Eigen's `dst.noalias() = lhs * rhs`
// computes it: a product this small coefficient-wise, one with a single row or column as a
// matrix-vector product (neither allocates), every other one through gemm_reusing_buffers.
// Whether Eigen evaluates a rows x cols x depth product with its GEMM kernel (Eigen 3.4).
inline bool eigen_uses_gemm(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth) {
  return rows > 1 && cols > 1 && depth + rows + cols >= 20;
}

template <typename Dst, typename Lhs, typename Rhs>
inline void product_into(Dst&& dst, const Lhs& lhs, const Rhs& rhs) {
  if (eigen_uses_gemm(dst.rows(), dst.cols(), lhs.cols()))
    gemm_reusing_buffers(dst, lhs, rhs);
  else
    dst.noalias() = lhs * rhs;
}

}  // namespace dalenet::detail
