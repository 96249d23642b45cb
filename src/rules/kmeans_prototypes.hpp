#pragma once
// The k-means control's hidden layer (docs/RULE.md, "The k-means control"; internal to the
// library): mini-batch k-means (Sculley 2010) on the input images, one prototype per excitatory
// hidden neuron, stored as that neuron's input weights. The bio arm's forward pass then reads the
// prototypes through the same efficacy, competition and readout: the code form of class-template
// units without the rule that learns them.
#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include "dalenet/network.hpp"

namespace dalenet::rules {

class KMeansPrototypes {
 public:
  // One step on the batch X [inputs x B] for the prototypes in the rows of W [units x inputs]:
  // - while some prototype is still unset, the next examples (in batch order) become the
  //   unset prototypes, one each (initialisation from data points; the batches are shuffled);
  // - every other example is assigned to the nearest prototype in Euclidean distance (lowest
  //   index on ties) and moves it by (x - c) / n_c, n_c the prototype's examples so far
  //   (the per-centre learning rate of Sculley's mini-batch k-means). Assignments of a batch
  //   use the prototypes as they were at its start; the moves are applied in batch order.
  // Prototypes stay convex combinations of images: non-negative images give non-negative
  // prototypes, and a pixel that is 0 in every assigned image stays exactly 0.
  void step(Eigen::Ref<WeightMatrix> W, const Eigen::Ref<const Eigen::MatrixXf>& X);
  // Examples assigned so far to each prototype (its initialising example included).
  const std::vector<std::int64_t>& counts() const { return counts_; }

 private:
  std::vector<std::int64_t> counts_;
  Eigen::MatrixXf scores_;  // [units x B] scratch: c.x - |c|^2 / 2 (larger is nearer)
};

// The k-means control under H6's receptive fields (docs/RULE.md): one KMeansPrototypes per window,
// run on that window's pixels only, for the neurons of that window. A prototype is written back
// into its neuron's window; the weights outside stay 0 (absent by wiring).
class WindowedKMeans {
 public:
  // One step of every window's k-means on the batch X [inputs x B]; W [units x inputs] as above.
  void step(Eigen::Ref<WeightMatrix> W, const Eigen::Ref<const Eigen::MatrixXf>& X, const ReceptiveFields& fields);

 private:
  std::vector<KMeansPrototypes> windows_;
  std::vector<WeightMatrix> prototypes_;           // per window: [units_per_window x window pixels]
  std::vector<std::vector<Eigen::Index>> pixels_;  // per window: its pixels, ascending
  Eigen::MatrixXf batch_;                          // scratch: one window's pixels of the batch
};

}  // namespace dalenet::rules
