#include "util/sgemm.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace dalenet::detail {

#if defined(__AVX512F__)
namespace {

using Index = Eigen::Index;
constexpr Index kMR = kPanelRows;  // rows of the register tile (two zmm per column)
constexpr Index kNR = 12;          // columns of the register tile: 24 accumulators of 32 registers
constexpr Index kKC = 384;         // depth block: a kc x 12 B panel (18 KB) stays in L1
constexpr Index kMC = 240;         // rows per A block: 240 x 384 floats (360 KB) stay in L2
constexpr Index kNC = 3072;        // columns per packed B block (4.5 MB at kc = 384)

// The depth block for depth k: the depth split into equal blocks of at most kKC (784 -> 262, 262, 260),
// a function of k alone (the sums' order must not depend on the shape of the call).
Index depth_block(Index k) {
  const Index blocks = (k + kKC - 1) / kKC;
  return (k + blocks - 1) / blocks;
}

// GCC warns that the packet type's vector attributes are dropped as a template argument; Eigen's
// own headers use the same PacketBlock (they are system headers, so there it is silent).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
using Tile = Eigen::internal::PacketBlock<Eigen::internal::Packet16f, 16>;
#pragma GCC diagnostic pop

// Lines [0, count) of 16 floats at src + i * stride (count <= 16; the others zero), transposed in
// registers by Eigen's ptranspose: packet q of the result holds element q of every line.
inline Tile load_transposed(const float* src, Index stride, Index count) {
  Tile t;
  for (Index i = 0; i < 16; ++i) t.packet[i] = i < count ? _mm512_loadu_ps(src + i * stride) : _mm512_setzero_ps();
  Eigen::internal::ptranspose(t);
  return t;
}

// A mask of the low n lanes (none for n <= 0, all for n >= 16).
inline __mmask16 low_lanes(Index n) {
  if (n <= 0) return 0;
  return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1U << n) - 1U);
}

// Packs rows [0, mc) x depth [0, kc) of A into 32-row panels, each kc x 32 floats (depth-major),
// rows past mc zero.
void pack_a(const float* A, Index rs, Index cs, Index mc, Index kc, float* dst) {
  for (Index i0 = 0; i0 < mc; i0 += kMR, dst += kc * kMR) {
    const Index mr = std::min(kMR, mc - i0);
    const float* a = A + i0 * rs;
    if (rs == 1) {  // columns contiguous: two (masked) loads per depth step
      const __mmask16 m0 = low_lanes(mr), m1 = low_lanes(mr - 16);
      for (Index p = 0; p < kc; ++p) {
        _mm512_store_ps(dst + p * kMR, _mm512_maskz_loadu_ps(m0, a + p * cs));
        _mm512_store_ps(dst + p * kMR + 16, _mm512_maskz_loadu_ps(m1, a + p * cs + 16));
      }
    } else if (cs == 1) {  // rows contiguous: 16 x 16 in-register transposes
      Index p = 0;
      for (; p + 16 <= kc; p += 16)
        for (Index h = 0; h < kMR; h += 16) {
          const Tile t = load_transposed(a + h * rs + p, rs, mr - h);
          for (Index q = 0; q < 16; ++q) _mm512_store_ps(dst + (p + q) * kMR + h, t.packet[q]);
        }
      for (; p < kc; ++p)
        for (Index i = 0; i < kMR; ++i) dst[p * kMR + i] = i < mr ? a[i * rs + p] : 0.0F;
    } else {
      for (Index p = 0; p < kc; ++p)
        for (Index i = 0; i < kMR; ++i) dst[p * kMR + i] = i < mr ? a[i * rs + p * cs] : 0.0F;
    }
  }
}

// Packs depth [0, kc) x columns [0, nc) of B into 12-column panels, each kc x 12 floats
// (depth-major), columns past nc zero.
void pack_b(const float* B, Index rs, Index cs, Index kc, Index nc, float* dst) {
  constexpr __mmask16 kTile = (1U << kNR) - 1U;
  for (Index j0 = 0; j0 < nc; j0 += kNR, dst += kc * kNR) {
    const Index nr = std::min(kNR, nc - j0);
    const float* b = B + j0 * cs;
    if (cs == 1) {  // rows contiguous: one masked load per depth step
      const __mmask16 m = low_lanes(nr);
      for (Index p = 0; p < kc; ++p) _mm512_mask_storeu_ps(dst + p * kNR, kTile, _mm512_maskz_loadu_ps(m, b + p * rs));
    } else if (rs == 1) {  // columns contiguous: 16 x 16 transposes, 12 columns used
      Index p = 0;
      for (; p + 16 <= kc; p += 16) {
        const Tile t = load_transposed(b + p, cs, nr);
        for (Index q = 0; q < 16; ++q) _mm512_mask_storeu_ps(dst + (p + q) * kNR, kTile, t.packet[q]);
      }
      for (; p < kc; ++p)
        for (Index j = 0; j < kNR; ++j) dst[p * kNR + j] = j < nr ? b[j * cs + p] : 0.0F;
    } else {
      for (Index p = 0; p < kc; ++p)
        for (Index j = 0; j < kNR; ++j) dst[p * kNR + j] = j < nr ? b[p * rs + j * cs] : 0.0F;
    }
  }
}

// C[0:mr, 0:nr] (column-major, leading dimension ldc) = (accumulate ? C : 0) + a * b over kc
// depth steps; a: a packed 32-row panel, b: a packed 12-column panel.
void kernel_32x12(Index kc, const float* __restrict a, const float* __restrict b, float* c, Index ldc, bool accumulate,
                  Index mr, Index nr) {
  __m512 lo[kNR], hi[kNR];
#pragma GCC unroll 12
  for (Index j = 0; j < kNR; ++j) lo[j] = hi[j] = _mm512_setzero_ps();
  for (Index p = 0; p < kc; ++p, a += kMR, b += kNR) {
    const __m512 a0 = _mm512_load_ps(a), a1 = _mm512_load_ps(a + 16);
    _mm_prefetch(reinterpret_cast<const char*>(a + 8 * kMR), _MM_HINT_T0);
#pragma GCC unroll 12
    for (Index j = 0; j < kNR; ++j) {
      const __m512 bj = _mm512_set1_ps(b[j]);
      lo[j] = _mm512_fmadd_ps(a0, bj, lo[j]);
      hi[j] = _mm512_fmadd_ps(a1, bj, hi[j]);
    }
  }
  const __mmask16 m0 = low_lanes(mr), m1 = low_lanes(mr - 16);
#pragma GCC unroll 12
  for (Index j = 0; j < kNR; ++j) {
    if (j >= nr) break;
    float* cj = c + j * ldc;
    if (accumulate) {
      lo[j] = _mm512_add_ps(lo[j], _mm512_maskz_loadu_ps(m0, cj));
      hi[j] = _mm512_add_ps(hi[j], _mm512_maskz_loadu_ps(m1, cj + 16));
    }
    _mm512_mask_storeu_ps(cj, m0, lo[j]);
    _mm512_mask_storeu_ps(cj + 16, m1, hi[j]);
  }
}

using AlignedFloats = std::vector<float, Eigen::aligned_allocator<float>>;

// The blocked product: C = A * B with A's blocks packed by pack_a(ic, mc, pc, kc, dst) (rows
// [ic, ic + mc) x depth [pc, pc + kc)); C column-major.
template <typename PackA>
void blocked_product(Index m, Index n, Index k, const PackA& pack_a_block, const float* B, Index rs_b, Index cs_b,
                     float* C, Index cs_c) {
  if (k <= 0) {
    for (Index j = 0; j < n; ++j) std::fill(C + j * cs_c, C + j * cs_c + m, 0.0F);
    return;
  }
  // Grow-only per-thread packing buffers (OpenMP's workers live as long as the process).
  thread_local AlignedFloats packed_a, packed_b;
  const Index kc_max = depth_block(k);
  const Index m_blocks = (m + kMC - 1) / kMC;
  const Index mc_max = ((m + m_blocks - 1) / m_blocks + kMR - 1) / kMR * kMR;
  const Index nc_max = std::min(kNC, (n + kNR - 1) / kNR * kNR);
  const auto need_a = static_cast<std::size_t>(mc_max * kc_max), need_b = static_cast<std::size_t>(nc_max * kc_max);
  if (packed_a.size() < need_a) packed_a.resize(need_a);
  if (packed_b.size() < need_b) packed_b.resize(need_b);
  for (Index jc = 0; jc < n; jc += kNC) {
    const Index nc = std::min(kNC, n - jc);
    for (Index pc = 0; pc < k; pc += kc_max) {
      const Index kc = std::min(kc_max, k - pc);
      pack_b(B + pc * rs_b + jc * cs_b, rs_b, cs_b, kc, nc, packed_b.data());
      for (Index ic = 0; ic < m; ic += mc_max) {
        const Index mc = std::min(mc_max, m - ic);
        pack_a_block(ic, mc, pc, kc, packed_a.data());
        for (Index jr = 0; jr < nc; jr += kNR)
          for (Index ir = 0; ir < mc; ir += kMR)
            kernel_32x12(kc, packed_a.data() + ir * kc, packed_b.data() + jr * kc, C + (ic + ir) + (jc + jr) * cs_c,
                         cs_c, pc > 0, std::min(kMR, mc - ir), std::min(kNR, nc - jr));
      }
    }
  }
}

}  // namespace

void sgemm(Index m, Index n, Index k, const float* A, Index rs_a, Index cs_a, const float* B, Index rs_b, Index cs_b,
           float* C, Index rs_c, Index cs_c) {
  if (m <= 0 || n <= 0) return;
  if (rs_c != 1) {
    // Row-major C: compute C^T = B^T A^T, whose destination is column-major.
    if (cs_c != 1) throw std::logic_error("sgemm: the destination needs a unit row or column stride");
    sgemm(n, m, k, B, cs_b, rs_b, A, cs_a, rs_a, C, 1, rs_c);
    return;
  }
  const auto pack = [&](Index ic, Index mc, Index pc, Index kc, float* dst) {
    pack_a(A + ic * rs_a + pc * cs_a, rs_a, cs_a, mc, kc, dst);
  };
  blocked_product(m, n, k, pack, B, rs_b, cs_b, C, cs_c);
}

void sgemm(Index m, Index n, Index k, const PanelSource& a, Index a_row0, const float* B, Index rs_b, Index cs_b,
           float* C, Index cs_c) {
  if (m <= 0 || n <= 0) return;
  const auto pack = [&](Index ic, Index mc, Index pc, Index kc, float* dst) { a.pack(a_row0 + ic, mc, pc, kc, dst); };
  blocked_product(m, n, k, pack, B, rs_b, cs_b, C, cs_c);
}

void pack_row_major_panels(const float* A, Index rs, Index mc, Index kc, float* dst) {
  pack_a(A, rs, 1, mc, kc, dst);
}

#else

void sgemm(Eigen::Index, Eigen::Index, Eigen::Index, const float*, Eigen::Index, Eigen::Index, const float*,
           Eigen::Index, Eigen::Index, float*, Eigen::Index, Eigen::Index) {
  throw std::logic_error("sgemm: built without AVX-512F (use Eigen's GEMM: detail::kOwnSgemm is false)");
}
void sgemm(Eigen::Index, Eigen::Index, Eigen::Index, const PanelSource&, Eigen::Index, const float*, Eigen::Index,
           Eigen::Index, float*, Eigen::Index) {
  throw std::logic_error("sgemm: built without AVX-512F (detail::kOwnSgemm is false)");
}
void pack_row_major_panels(const float*, Eigen::Index, Eigen::Index, Eigen::Index, float*) {
  throw std::logic_error("pack_row_major_panels: built without AVX-512F (detail::kOwnSgemm is false)");
}

#endif

}  // namespace dalenet::detail
