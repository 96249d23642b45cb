#pragma once
// What the attack kernels (attack.cpp) and the evaluation that schedules them (robustness.cpp)
// share. Not part of the public API.
//
// Stream keys. Every random draw of an attack (PGD's random starts, the Square attack's windows,
// the noise draws) comes from a stream keyed by (seed, restart or draw, the example's key). The
// key of column c of X is keys[c], or c where keys is empty. The evaluation attacks subsets of
// one example set (the survivors of earlier attacks and of smaller eps) and passes each example's
// position in the whole set as its key, so an example meets the same draws whichever subset it is
// attacked in: its outcome depends on the example, the attack, eps and the seed, not on the
// company it keeps. That is what makes the carried-forward schedule equal to the exhaustive one
// (docs/EVALUATION.md, "Which examples each attack runs on").
#include <Eigen/Core>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dalenet/attack.hpp"
#include "dalenet/network.hpp"
#include "dalenet/rng.hpp"
#include "util/clock.hpp"

namespace dalenet::detail {

using dalenet::Clock;
using dalenet::seconds_since;
std::string pct(double a);  // "12.34%"

inline std::uint64_t stream_key(std::span<const std::size_t> keys, std::size_t column) {
  return keys.empty() ? column : keys[column];
}

Eigen::MatrixXf take_columns(const Eigen::MatrixXf& m, const std::vector<Eigen::Index>& keep);
// Entries `keep` of v, in order: the per-example state an attack compacts with take_columns.
template <typename T>
std::vector<T> take_entries(const std::vector<T>& v, const std::vector<Eigen::Index>& keep) {
  std::vector<T> out;
  out.reserve(keep.size());
  for (const auto k : keep) out.push_back(v[static_cast<std::size_t>(k)]);
  return out;
}
Eigen::VectorXf take_entries(const Eigen::VectorXf& v, const std::vector<Eigen::Index>& keep);
// The columns a batch keeps when the examples marked 1 in `fooled` leave it, ascending.
std::vector<Eigen::Index> surviving_columns(const std::vector<std::uint8_t>& fooled);

// The state of a batch of examples under attack: iterates x, clean x0, labels and their ids
// (columns of the X the attack was given); drop() removes the fooled columns so later passes
// only pay for the survivors.
struct AttackBatch {
  Eigen::MatrixXf x, x0;
  std::vector<std::uint8_t> labels;
  std::vector<std::size_t> ids;
  void drop(const std::vector<std::uint8_t>& fooled) {
    const std::vector<Eigen::Index> keep = surviving_columns(fooled);
    if (keep.size() == ids.size()) return;
    x = take_columns(x, keep);
    x0 = take_columns(x0, keep);
    labels = take_entries(labels, keep);
    ids = take_entries(ids, keep);
  }
};
AttackBatch make_batch(const Eigen::Ref<const Eigen::MatrixXf>& X, std::span<const std::uint8_t> labels,
                       const std::vector<std::size_t>& ids);

// Per column of X: 1 if the model classifies it correctly.
std::vector<std::uint8_t> clean_correct(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                        std::span<const std::uint8_t> labels, std::size_t batch);
std::vector<std::size_t> ids_where(const std::vector<std::uint8_t>& v);  // the indices of the non-zero entries
double fraction(const std::vector<std::uint8_t>& v, std::size_t n);      // count of 1s / n (0 for n = 0)

// The arg-max rule of evaluate(): the lowest index wins ties.
bool classified_correctly(const Eigen::MatrixXf& logits, Eigen::Index b, int label);
// Per-example loss gradients wrt the logits (L = sum over the batch): cross-entropy, and the
// margin loss max_{j != y} z_j - z_y (> 0 once the example is misclassified).
void cross_entropy_gradient(const Eigen::MatrixXf& logits, std::span<const std::uint8_t> labels, Eigen::MatrixXf& d);
void margin_gradient(const Eigen::MatrixXf& logits, std::span<const std::uint8_t> labels, Eigen::MatrixXf& d);
// The margin or cross-entropy loss as the Classifier callback.
Classifier::LossGradient loss_gradient(bool margin, std::span<const std::uint8_t> labels);
// x <- the nearest point of the eps-ball around x0, intersected with [0, 1]^D, per column.
void project(ThreatNorm norm, float eps, const Eigen::MatrixXf& x0, Eigen::MatrixXf& x);
// One ascent step of size alpha: along the sign of g (L-inf) or the unit vector of g (L2).
void ascend(ThreatNorm norm, float alpha, const Eigen::MatrixXf& g, Eigen::MatrixXf& x);
// Adds a random point of the eps-ball (uniform per coordinate for L-inf; a random direction at a
// uniform radius for L2) to x. Not projected.
void random_start(ThreatNorm norm, float eps, Rng& rng, Eigen::Ref<Eigen::VectorXf> x);
// Columns of the batch that `logits` misclassifies: marked 0 in `robust`, their input `xs` kept
// in `adv` (both indexed by b.ids). Returns the mask (1 = fooled now) and whether any was.
bool record_fooled(const Eigen::MatrixXf& logits, const Eigen::MatrixXf& xs, const AttackBatch& b,
                   std::vector<std::uint8_t>& robust, Eigen::MatrixXf& adv, std::vector<std::uint8_t>& fooled);
// Splits `ids` into chunks of at most `batch`.
std::vector<std::vector<std::size_t>> chunks(const std::vector<std::size_t>& ids, std::size_t batch);

// The attacks of attack.hpp with stream keys (see above).
// `first_start` (optional, [input x n]): where restart 0 starts for each column of X, instead of a
// random point (it is projected onto the ball first); later restarts start at random.
std::vector<std::uint8_t> pgd_attack_keyed(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                           std::span<const std::uint8_t> labels, const PgdOptions& opt,
                                           std::span<const std::size_t> keys, Eigen::MatrixXf& adv,
                                           PgdStats* stats = nullptr, const Eigen::MatrixXf* first_start = nullptr);
Eigen::MatrixXf pgd_final_iterate_keyed(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                        std::span<const std::uint8_t> labels, const PgdOptions& opt,
                                        std::span<const std::size_t> keys);
struct SquareOptions {
  double eps = 0.0;
  int queries = 5000;
  double p_init = 0.8;
  int rows = 28, cols = 28;
  std::uint64_t seed = 0;
  std::size_t batch = 1000;
};
std::vector<std::uint8_t> square_attack_keyed(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                              std::span<const std::uint8_t> labels, const SquareOptions& opt,
                                              std::span<const std::size_t> keys, Eigen::MatrixXf& adv);
// Worst case over `draws` random perturbations per example (gaussian: clipped N(0, eps^2) per
// pixel for L-inf, a random direction of length eps for L2; salt_pepper: a fraction eps of the
// pixels set to 0 or 1).
enum class NoiseKind { gaussian, salt_pepper };
std::vector<std::uint8_t> noise_attack(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                       std::span<const std::uint8_t> labels, NoiseKind kind, ThreatNorm norm,
                                       double eps, int draws, std::uint64_t seed, std::size_t batch,
                                       std::span<const std::size_t> keys, Eigen::MatrixXf& adv);
// APGD (attacks/apgd.cpp), exposed for its tests. The iterations after which the step size may
// halve, for a run of `iterations`; the per-example cross-entropy, and the targeted DLR loss of
// Croce & Hein (2020, eq. 8) with target class targets[b], each with d loss / d logits.
std::vector<int> apgd_checkpoints(int iterations);
void cross_entropy_per_example(const Eigen::MatrixXf& z, std::span<const std::uint8_t> labels, Eigen::VectorXf& loss,
                               Eigen::MatrixXf& d);
void dlr_targeted_per_example(const Eigen::MatrixXf& z, std::span<const std::uint8_t> labels,
                              std::span<const std::uint8_t> targets, Eigen::VectorXf& loss, Eigen::MatrixXf& d);

// The first hidden layer of a network whose excitatory units compete and feed the output: the
// units whose winners decide the class, as the attacks adapted to competition see them
// (attacks/bpda.cpp, attacks/drive.cpp). The drive of unit j is strength.row(j) x + bias(j),
// before inhibition.
struct VotingUnits {
  WeightMatrix strength;     // [excitatory x inputs]: the efficacy of each unit's synapses
  Eigen::VectorXf bias;      // [excitatory]
  std::vector<int> classes;  // the arg-max of each unit's readout column; -1 where it is all <= 0

  // Whether the network is input -> competing hidden layer -> output (without building the units).
  static bool exist_in(const Network& net);
  // Empty (no units) unless exist_in(net).
  static VotingUnits of(const Network& net);
  bool empty() const { return classes.empty(); }
  // strength * X + bias: every unit's drive, one column per example.
  Eigen::MatrixXf drives(const Eigen::Ref<const Eigen::MatrixXf>& X) const;
  // In column b of `drive`: the strongest unit voting for class y and the strongest voting for any
  // other class; -1 where there is none.
  std::pair<Eigen::Index, Eigen::Index> strongest(const Eigen::MatrixXf& drive, Eigen::Index b, int y) const;
};

// pgd_bpda (attacks/bpda.cpp), exposed for its tests: per column of X, the template-swap start
// x0 + eps sign(w_wrong - w_win) (L2: eps times the unit vector) of a network whose first hidden
// layer competes and feeds the output; an empty matrix for any other network.
Eigen::MatrixXf template_swap_starts(const Network& net, const Eigen::MatrixXf& X, std::span<const std::uint8_t> labels,
                                     ThreatNorm norm, double eps);
// The same from units already built (empty units: an empty matrix).
Eigen::MatrixXf template_swap_starts(const VotingUnits& units, const Eigen::MatrixXf& X,
                                     std::span<const std::uint8_t> labels, ThreatNorm norm, double eps);

// The fraction of the examples `ids` whose margin (or cross-entropy) input gradient is all zero.
double zero_gradient_fraction(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                              std::span<const std::uint8_t> labels, const std::vector<std::size_t>& ids, bool margin,
                              std::size_t batch);

}  // namespace dalenet::detail
