#pragma once
// The interface of local plasticity. A local rule updates the synapses of ONE projection from
// what is available at those synapses: the presynaptic rates, the postsynaptic rates (after the
// layer's own competition), an optional third factor per postsynaptic neuron (e.g. a teaching
// signal arriving at an output neuron) and one global scalar (e.g. a reward). It receives no
// Network, no other projection, no labels and no error vector from other layers: non-local
// information is unreachable by construction. (Its tests also check it behaviourally: hidden
// plasticity is bit-identical when the labels are permuted.)
#include <Eigen/Core>
#include <cstdint>

#include "dalenet/network.hpp"

namespace dalenet {

struct LocalBatch {
  Eigen::Ref<const Eigen::MatrixXf> pre;   // presynaptic rates [pre x B]
  Eigen::Ref<const Eigen::MatrixXf> post;  // postsynaptic rates [post x B]
  const Eigen::MatrixXf* modulator;        // third factor per postsynaptic neuron [post x B], or nullptr
  double global = 0.0;                     // one global modulatory scalar
};

// The synapses of one projection: what a local rule may change.
// Views (Eigen::Ref) rather than matrices, so a rule can be handed one population's block of a
// projection (e.g. the excitatory rows) in place, without a copy per batch.
struct Synapses {
  Eigen::Ref<WeightMatrix> weight;  // [post x pre]; the bio rule keeps every weight's sign
  Eigen::Ref<MaskMatrix> mask;      // [post x pre]: 1 existing, 0 silent
};

struct PlasticityCounters {
  std::uint64_t sign_flips = 0;
  std::uint64_t clip_events = 0;
};

// Sign flips between two arrays of n weights: entries whose sign differs, zero counting as no
// sign (w -> 0 is an elimination, not a flip). For a rule's PlasticityCounters::sign_flips.
std::uint64_t count_sign_changes(const float* before, const float* after, Eigen::Index n);

class LocalPlasticity {
 public:
  virtual ~LocalPlasticity() = default;
  virtual void update(Synapses syn, const LocalBatch& batch, PlasticityCounters& counters) = 0;
};

}  // namespace dalenet
