#include "patch_logits.hpp"

#include <string>

#include "dalenet/error.hpp"
#include "net/forward_from_drive.hpp"

namespace dalenet::detail {

PatchLogits::PatchLogits(const Network& net) : net_(net) {
  if (net.projections.empty()) throw InputError("PatchLogits: the network has no projection");
  WeightMatrix e;
  net.projections[0].effective_weight(e);
  effective_ = e;
  cache_.weights_fixed = true;
}

void PatchLogits::refresh() {
  drive_.resize(effective_.rows(), x_.cols());
#pragma omp parallel for schedule(static) if (x_.cols() >= 16)
  for (Eigen::Index b = 0; b < x_.cols(); ++b) drive_.col(b).noalias() = effective_ * x_.col(b);
  calls_since_refresh_ = 0;
}

void PatchLogits::reset(const Eigen::Ref<const Eigen::MatrixXf>& X, Eigen::MatrixXf& logits) {
  if (X.rows() != effective_.cols())
    throw InputError("PatchLogits: inputs have " + std::to_string(X.rows()) + " features, the network expects " +
                     std::to_string(effective_.cols()));
  x_ = X;
  refresh();
  forward_from_first_drive(net_, drive_, cache_);
  logits = cache_.logits();
}

void PatchLogits::evaluate(const Eigen::MatrixXf& candidates, const std::vector<std::vector<std::int32_t>>& changed,
                           Eigen::MatrixXf& logits) {
  if (candidates.rows() != x_.rows() || candidates.cols() != x_.cols() ||
      changed.size() != static_cast<std::size_t>(x_.cols()))
    throw InputError("PatchLogits: candidates of shape " + std::to_string(candidates.rows()) + " x " +
                     std::to_string(candidates.cols()) + " do not match the current inputs");
  if (++calls_since_refresh_ >= kRefreshAfterCalls) refresh();  // bounds the rounding of the running sums
  candidate_drive_.resize(drive_.rows(), drive_.cols());
#pragma omp parallel for schedule(static) if (x_.cols() >= 16)
  for (Eigen::Index b = 0; b < x_.cols(); ++b) {
    auto z = candidate_drive_.col(b);
    z = drive_.col(b);
    for (const std::int32_t i : changed[static_cast<std::size_t>(b)]) {
      const float delta = candidates(i, b) - x_(i, b);
      if (delta != 0.0F) z.noalias() += delta * effective_.col(i);
    }
  }
  forward_from_first_drive(net_, candidate_drive_, cache_);
  logits = cache_.logits();
}

void PatchLogits::accept(const Eigen::MatrixXf& candidates, const std::vector<std::uint8_t>& take) {
  for (Eigen::Index b = 0; b < x_.cols(); ++b)
    if (take[static_cast<std::size_t>(b)] != 0) {
      x_.col(b) = candidates.col(b);
      drive_.col(b) = candidate_drive_.col(b);
    }
}

void PatchLogits::keep_columns(const std::vector<Eigen::Index>& keep) {
  const auto B = static_cast<Eigen::Index>(keep.size());
  for (Eigen::Index k = 0; k < B; ++k) {
    const Eigen::Index from = keep[static_cast<std::size_t>(k)];
    if (from == k) continue;
    x_.col(k) = x_.col(from);
    drive_.col(k) = drive_.col(from);
  }
  x_.conservativeResize(Eigen::NoChange, B);
  drive_.conservativeResize(Eigen::NoChange, B);
}

}  // namespace dalenet::detail
