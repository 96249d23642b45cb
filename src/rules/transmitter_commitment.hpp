#pragma once
// Presynaptic transmitter commitment (docs/RULE.md, "Transmitter commitment", D1-D5; internal
// to the library): the local mechanism under which each presynaptic neuron of a projection settles
// on one sign from a mixed-sign start.
//
// Presynaptic neuron i (a column of the [post x pre] weights) carries a commitment a_i in [0, 1].
// Its excitatory synapses act at a fraction a_i of their size, its inhibitory ones at 1 - a_i: the
// stored weight is w_ij = s_ij * tau_ij * q_ij with tau_ij = a_i (s_ij > 0) or 1 - a_i (s_ij < 0),
// so the forward pass, the model file and the audit read the committed strength and need nothing
// new. Each batch the terminal reads, per sign class, the utility
//   U_i^+- = sum_{j: s_ij = +-} q_ij * mean_b(x_ib r_jb)      (q_ij = |w_ij| / tau_ij)
// (its own synapses' sizes and rate, and the postsynaptic rates as a retrograde signal); every
// `interval` batches it takes one replicator step on the utilities summed since the last one,
//   a_i <- a_i^g U+ / (a_i^g U+ + (1 - a_i)^g U-),
// rescales each class by its new fraction and removes the synapses of a class whose fraction
// reached 0 (mask 0); with regrowth > 0, silent sites regrow (D5) with the sign + at probability
// a_i (a new terminal releases the neuron's transmitter mix). In log-odds l = ln(a / (1 - a)) the
// step is affine, l <- g l + ln(U+ / U-): for g > 1 the mixed state is unstable, g = 1 only
// follows the utility ratio. Every factor is >= 0, so no sign ever flips; nothing is clamped (a
// fraction reaches exactly 0 or 1 where float arithmetic takes it there).
#include <Eigen/Core>
#include <cstdint>

#include "dalenet/local.hpp"
#include "dalenet/rng.hpp"

namespace dalenet::rules {

struct CommitmentParams {
  double gamma = 1.5;          // g: > 1 makes the 50/50 state unstable
  std::int64_t interval = 50;  // batches per replicator step
  double noise = 0.01;         // a_i starts at 0.5 + noise * U(-1, 1)
  double regrowth = 0.5;       // D5: probability per silent site per replicator step
  double regrowth_size = 0.3;  // D5: a new synapse's size, relative to the mean of its postsynaptic row
};

// One replicator step (D3) of a commitment a in [0, 1] on the utilities u_pos, u_neg >= 0. Without
// any utility (u_pos + u_neg = 0: the neuron was silent) both classes count as equally useful.
double replicator_step(double a, double gamma, double u_pos, double u_neg);

class TransmitterCommitment final : public LocalPlasticity {
 public:
  explicit TransmitterCommitment(CommitmentParams p);
  // D1: draws a_i for each presynaptic neuron (column of syn.weight) and scales each synapse by
  // its class's fraction.
  void start(Synapses syn, Rng& rng);
  // D2 for one batch (pre [pre x B], post [post x B]); every `interval`-th call also D3 and D4.
  void update(Synapses syn, const LocalBatch& batch, PlasticityCounters& counters) override;
  // a_i per presynaptic neuron.
  const Eigen::VectorXf& commitment() const { return a_; }
  // Synapses removed so far because their class's fraction reached 0 (D4), and regrown (D5).
  std::uint64_t eliminations() const { return eliminations_; }
  std::uint64_t creations() const { return creations_; }

 private:
  void commit(Synapses syn, PlasticityCounters& counters);
  void regrow(Synapses syn);

  CommitmentParams params_;
  Eigen::VectorXf a_;
  Eigen::VectorXd u_pos_, u_neg_;  // utilities summed since the last replicator step [pre]
  Eigen::MatrixXf co_activity_;    // [post x pre] scratch: sum_b r_jb x_ib
  std::int64_t batches_ = 0;
  std::uint64_t eliminations_ = 0, creations_ = 0;
  Rng rng_;  // D1's draw and D5's
};

}  // namespace dalenet::rules
