#pragma once
// The log-normalised efficacy as the A operand of dalenet's GEMM (internal to the library).
#include <span>

#include "dalenet/network.hpp"
#include "util/sgemm.hpp"

namespace dalenet::detail {

// The effective weights of a log_normalized projection (Projection::effective_weight), computed
// block by block into the GEMM's packing buffer: bit-identical to effective_weight's, without
// writing the [post x pre] matrix out and reading it back for packing (the bio rule's training
// passes, whose weights change every batch; src/net/backprop.cpp).
class EfficacyPanels final : public PanelSource {
 public:
  // rows: row_magnitude of every row of p.weight; both must outlive the object.
  EfficacyPanels(const Projection& p, std::span<const RowMagnitude> rows);
  void pack(Eigen::Index row0, Eigen::Index mc, Eigen::Index col0, Eigen::Index kc, float* dst) const override;

 private:
  const Projection& p_;
  std::span<const RowMagnitude> rows_;
};

}  // namespace dalenet::detail
