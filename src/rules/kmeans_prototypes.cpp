#include "rules/kmeans_prototypes.hpp"

#include "dalenet/error.hpp"

namespace dalenet::rules {

void KMeansPrototypes::step(Eigen::Ref<WeightMatrix> W, const Eigen::Ref<const Eigen::MatrixXf>& X) {
  if (W.cols() != X.rows()) throw InputError("k-means prototypes: the batch's rows do not match the inputs");
  const Eigen::Index units = W.rows(), B = X.cols();
  if (counts_.empty()) counts_.assign(static_cast<std::size_t>(units), 0);
  Eigen::Index b = 0;
  // Initialisation: unset prototypes take the batch's first examples, in order.
  for (Eigen::Index j = 0; j < units && b < B; ++j) {
    if (counts_[static_cast<std::size_t>(j)] > 0) continue;
    W.row(j) = X.col(b).transpose();
    counts_[static_cast<std::size_t>(j)] = 1;
    ++b;
  }
  if (b == B) return;
  // argmin_j |x - c_j|^2 = argmax_j (c_j . x - |c_j|^2 / 2), for every remaining example at once.
  const Eigen::VectorXf half_norms = 0.5F * W.rowwise().squaredNorm();
  scores_.noalias() = W * X.rightCols(B - b);
  scores_.colwise() -= half_norms;
  std::vector<Eigen::Index> nearest(static_cast<std::size_t>(B - b));
  for (Eigen::Index k = 0; k < B - b; ++k) scores_.col(k).maxCoeff(&nearest[static_cast<std::size_t>(k)]);
  for (Eigen::Index k = 0; k < B - b; ++k) {
    const Eigen::Index j = nearest[static_cast<std::size_t>(k)];
    const auto n = ++counts_[static_cast<std::size_t>(j)];
    W.row(j) += (X.col(b + k).transpose() - W.row(j)) / static_cast<float>(n);
  }
}

void WindowedKMeans::step(Eigen::Ref<WeightMatrix> W, const Eigen::Ref<const Eigen::MatrixXf>& X,
                          const ReceptiveFields& fields) {
  const Eigen::Index windows = fields.count(), units = fields.units_per_window;
  if (W.rows() < windows * units || W.cols() != X.rows())
    throw InputError("windowed k-means: the weights do not fit the receptive fields or the batch");
  if (windows_.empty()) {
    windows_.resize(static_cast<std::size_t>(windows));
    prototypes_.resize(static_cast<std::size_t>(windows));
    pixels_.resize(static_cast<std::size_t>(windows));
    for (Eigen::Index k = 0; k < windows; ++k) {
      auto& pixels = pixels_[static_cast<std::size_t>(k)];
      for (Eigen::Index j = 0; j < W.cols(); ++j)
        if (fields.potential(k * units, j)) pixels.push_back(j);
      prototypes_[static_cast<std::size_t>(k)] = WeightMatrix::Zero(units, static_cast<Eigen::Index>(pixels.size()));
    }
  }
  for (Eigen::Index k = 0; k < windows; ++k) {
    const auto& pixels = pixels_[static_cast<std::size_t>(k)];
    auto& prototypes = prototypes_[static_cast<std::size_t>(k)];
    batch_ = X(pixels, Eigen::all);
    windows_[static_cast<std::size_t>(k)].step(prototypes, batch_);
    for (Eigen::Index u = 0; u < units; ++u)
      for (std::size_t p = 0; p < pixels.size(); ++p)
        W(k * units + u, pixels[p]) = prototypes(u, static_cast<Eigen::Index>(p));
  }
}

}  // namespace dalenet::rules
