#include "rules/transmitter_commitment.hpp"

#include <cmath>

#include "dalenet/error.hpp"
#include "rules/sign_change.hpp"

namespace dalenet::rules {

double replicator_step(double a, double gamma, double u_pos, double u_neg) {
  if (!(u_pos + u_neg > 0.0)) u_pos = u_neg = 1.0;
  const double pos = std::pow(a, gamma) * u_pos;
  const double total = pos + std::pow(1.0 - a, gamma) * u_neg;
  return total > 0.0 ? pos / total : a;
}

TransmitterCommitment::TransmitterCommitment(CommitmentParams p) : params_(p) {
  if (!(p.gamma > 0.0)) throw ConfigError("transmitter commitment: gamma must be > 0");
  if (p.interval < 1) throw ConfigError("transmitter commitment: the interval must be >= 1 batch");
  if (!(p.noise >= 0.0 && p.noise < 0.5)) throw ConfigError("transmitter commitment: noise must be in [0, 0.5)");
  if (!(p.regrowth >= 0.0 && p.regrowth <= 1.0))
    throw ConfigError("transmitter commitment: regrowth must be in [0, 1]");
  if (!(p.regrowth_size > 0.0)) throw ConfigError("transmitter commitment: the regrowth size must be > 0");
}

void TransmitterCommitment::start(Synapses syn, Rng& rng) {
  rng_ = Rng(rng.next_u64(), 8);
  const Eigen::Index P = syn.weight.cols();
  a_.resize(P);
  for (Eigen::Index i = 0; i < P; ++i) a_(i) = static_cast<float>(0.5 + params_.noise * (2.0 * rng_.uniform() - 1.0));
  for (Eigen::Index j = 0; j < syn.weight.rows(); ++j)
    for (Eigen::Index i = 0; i < P; ++i) {
      float& w = syn.weight(j, i);
      w *= w > 0.0F ? a_(i) : 1.0F - a_(i);
    }
  u_pos_ = Eigen::VectorXd::Zero(P);
  u_neg_ = Eigen::VectorXd::Zero(P);
  batches_ = 0;
}

void TransmitterCommitment::update(Synapses syn, const LocalBatch& batch, PlasticityCounters& counters) {
  const Eigen::Index P = syn.weight.cols(), N = syn.weight.rows();
  if (a_.size() != P) throw InputError("transmitter commitment: start() was not run on these synapses");
  if (batch.pre.rows() != P || batch.post.rows() != N || batch.pre.cols() != batch.post.cols())
    throw InputError("transmitter commitment: the rates do not match the synapses");
  // D2: q_ij * mean_b(x_ib r_jb) per class; q = |w| / tau, the size the synapse has apart from
  // the commitment (so that g = 1 is the neutral replicator: a class is not more useful for
  // being more committed).
  co_activity_.noalias() = batch.post * batch.pre.transpose();
  // Summed per class first and divided by tau per neuron after (a class at tau = 0 has no
  // synapses left; dividing each weight by a tiny tau could overflow).
  Eigen::ArrayXd pos = Eigen::ArrayXd::Zero(P), neg = Eigen::ArrayXd::Zero(P);
  for (Eigen::Index j = 0; j < N; ++j)
    for (Eigen::Index i = 0; i < P; ++i) {
      const float w = syn.weight(j, i);
      if (w > 0.0F)
        pos(i) += static_cast<double>(w * co_activity_(j, i));
      else if (w < 0.0F)
        neg(i) -= static_cast<double>(w * co_activity_(j, i));
    }
  const double inv_batch = 1.0 / static_cast<double>(batch.pre.cols());
  for (Eigen::Index i = 0; i < P; ++i) {
    const auto tau_pos = static_cast<double>(a_(i)), tau_neg = 1.0 - static_cast<double>(a_(i));
    if (tau_pos > 0.0) u_pos_(i) += pos(i) * inv_batch / tau_pos;
    if (tau_neg > 0.0) u_neg_(i) += neg(i) * inv_batch / tau_neg;
  }
  if (++batches_ % params_.interval == 0) commit(syn, counters);
}

// D3 (replicator step) and D4 (each class rescaled to its new fraction; a class at 0 removed).
void TransmitterCommitment::commit(Synapses syn, PlasticityCounters& counters) {
  const Eigen::Index P = syn.weight.cols();
  Eigen::ArrayXf scale_pos(P), scale_neg(P);
  for (Eigen::Index i = 0; i < P; ++i) {
    const float before = a_(i);
    const auto after = static_cast<float>(replicator_step(before, params_.gamma, u_pos_(i), u_neg_(i)));
    // A class already at 0 has no synapses left (D4): its factor does not matter.
    scale_pos(i) = before > 0.0F ? after / before : 0.0F;
    scale_neg(i) = before < 1.0F ? (1.0F - after) / (1.0F - before) : 0.0F;
    a_(i) = after;
  }
  std::uint64_t flips = 0;
  for (Eigen::Index j = 0; j < syn.weight.rows(); ++j)
    for (Eigen::Index i = 0; i < P; ++i) {
      float& w = syn.weight(j, i);
      if (w == 0.0F) continue;
      const float old = w;
      w *= old > 0.0F ? scale_pos(i) : scale_neg(i);
      flips += sign_changed(old, w) ? 1U : 0U;
      if (w == 0.0F && syn.mask(j, i) != 0) {
        syn.mask(j, i) = 0;
        ++eliminations_;
      }
    }
  counters.sign_flips += flips;
  u_pos_.setZero();
  u_neg_.setZero();
  if (params_.regrowth > 0.0) regrow(syn);
}

// D5: each silent site regrows with probability `regrowth`; its sign is + with probability a_i and
// it acts at its class's share of regrowth_size times the mean size of its row's existing synapses
// (a class the neuron has given up, share 0, does not regrow).
void TransmitterCommitment::regrow(Synapses syn) {
  for (Eigen::Index j = 0; j < syn.weight.rows(); ++j) {
    const auto existing = (syn.mask.row(j).array() != 0).count();
    if (existing == 0) continue;
    const float size =
        static_cast<float>(params_.regrowth_size) * syn.weight.row(j).cwiseAbs().sum() / static_cast<float>(existing);
    for (Eigen::Index i = 0; i < syn.weight.cols(); ++i) {
      if (syn.mask(j, i) != 0 || rng_.uniform() >= params_.regrowth) continue;
      const bool excitatory = rng_.uniform() < static_cast<double>(a_(i));
      const float share = excitatory ? a_(i) : 1.0F - a_(i);
      if (!(share > 0.0F)) continue;
      syn.mask(j, i) = 1;
      syn.weight(j, i) = (excitatory ? 1.0F : -1.0F) * share * size;
      ++creations_;
    }
  }
}

}  // namespace dalenet::rules
