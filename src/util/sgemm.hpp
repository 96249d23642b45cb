#pragma once
// dalenet's own single-precision GEMM for AVX-512 machines (internal to the library).
//
// Why: with full-width AVX-512, Eigen 3.4's GEMM kernel (48 x 4 register tile, 12 accumulators)
// leaves much of the machine's peak unused, well behind OpenBLAS at 1000^3 and at the BP epoch's
// 1000 x 784 x 128 (docs/PERFORMANCE.md, "dalenet's own GEMM", has the current rates). This
// kernel follows the BLIS design: a 32 x 12 register tile (24 zmm accumulators, the B operand
// broadcast from memory), B packed in kc x 12 panels that stay in L1, A packed in 32-row panels of
// an mc x kc block that stays in L2.
//
// Sums: C(i, j) = sum over depth blocks of (sum over k in the block, in order, of A(i, k) B(k, j)),
// the blocks added in order. The depth blocking depends on the depth alone, so an entry's value
// does not depend on m, n, on which rows or columns a call computes, or on the thread count
// (split_rows_product shares rows out over threads).
#include <Eigen/Core>
#include <type_traits>

namespace dalenet::detail {

// Whether this build carries the kernel (compiled with AVX-512F, e.g. -march=native on an
// AVX-512 machine). Without it the callers use Eigen's GEMM (src/util/gemm.hpp).
#if defined(__AVX512F__)
inline constexpr bool kOwnSgemm = true;
#else
inline constexpr bool kOwnSgemm = false;
#endif

// C = A * B, A: m x k, B: k x n, C: m x n, on the calling thread. Element (i, j) of a matrix X
// lies at X[i * rs_x + j * cs_x]; C must have unit row stride or unit column stride. No heap
// allocation once the thread's packing buffers have grown to the largest blocks it has met
// (at most 256 x 384 floats for A and 384 x 3072 for B, 0.4 + 4.7 MB). Throws std::logic_error where the
// kernel is not compiled in (kOwnSgemm false).
void sgemm(Eigen::Index m, Eigen::Index n, Eigen::Index k, const float* A, Eigen::Index rs_a, Eigen::Index cs_a,
           const float* B, Eigen::Index rs_b, Eigen::Index cs_b, float* C, Eigen::Index rs_c, Eigen::Index cs_c);

// The A operand of sgemm produced as it is packed: a transform of stored weights (the
// log-normalised efficacy) computed block by block into the packing buffer, so that it is never
// written out as a whole matrix and read back (docs/PERFORMANCE.md).
inline constexpr Eigen::Index kPanelRows = 32;  // rows of one packed panel (the register tile's)
class PanelSource {
 public:
  // Writes rows [row0, row0 + mc) x depth [col0, col0 + kc) of A to dst in sgemm's packed layout:
  // ceil(mc / kPanelRows) panels one after another, each kc x kPanelRows floats (depth-major),
  // rows past mc zero (what pack_row_major_panels makes of a row-major block).
  virtual void pack(Eigen::Index row0, Eigen::Index mc, Eigen::Index col0, Eigen::Index kc, float* dst) const = 0;

 protected:
  PanelSource() = default;
  PanelSource(const PanelSource&) = default;
  PanelSource& operator=(const PanelSource&) = default;
  ~PanelSource() = default;
};

// Rows [0, mc) x depth [0, kc) of a row-major block A (row stride rs) in sgemm's packed layout.
void pack_row_major_panels(const float* A, Eigen::Index rs, Eigen::Index mc, Eigen::Index kc, float* dst);

// C = A * B for rows [a_row0, a_row0 + m) of the A that `a` packs (depth k), on the calling
// thread; C: m x n, column-major (leading dimension cs_c). The sums are those of sgemm above.
void sgemm(Eigen::Index m, Eigen::Index n, Eigen::Index k, const PanelSource& a, Eigen::Index a_row0, const float* B,
           Eigen::Index rs_b, Eigen::Index cs_b, float* C, Eigen::Index cs_c);

// The row and column strides of an Eigen operand with unit inner stride.
template <typename X>
void operand_strides(const X& x, Eigen::Index& rs, Eigen::Index& cs) {
  using T = std::decay_t<X>;
  static_assert(T::InnerStrideAtCompileTime == 1, "sgemm: operands need a unit inner stride");
  rs = T::IsRowMajor ? x.outerStride() : 1;
  cs = T::IsRowMajor ? 1 : x.outerStride();
}

// sgemm on Eigen expressions with unit inner stride: plain matrices, blocks, Maps, transposes.
template <typename Dst, typename Lhs, typename Rhs>
void sgemm(Dst&& dst, const Lhs& lhs, const Rhs& rhs) {
  Eigen::Index rs_a = 0, cs_a = 0, rs_b = 0, cs_b = 0, rs_c = 0, cs_c = 0;
  operand_strides(lhs, rs_a, cs_a);
  operand_strides(rhs, rs_b, cs_b);
  operand_strides(dst, rs_c, cs_c);
  sgemm(dst.rows(), dst.cols(), lhs.cols(), lhs.data(), rs_a, cs_a, rhs.data(), rs_b, cs_b, dst.data(), rs_c, cs_c);
}

}  // namespace dalenet::detail
