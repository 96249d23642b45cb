// pgd_bpda: PGD-margin adapted to sparse competition (issue 32; Tramer et al. 2020, "On adaptive
// attacks to adversarial example defenses", on k-WTA). Under competition the exact gradient
// reaches only the units that are active, so an attack that follows it can lower the true class's
// winner but never raise a silent unit of another class above it. Two changes:
//  - the gradient is a BPDA surrogate (Athalye et al. 2018): silenced units pass
//    kCompetitionLeak times their gradient, as through a leaky rectifier
//    (BackwardScratch::competition_leak); the logits, and so every success, stay exact;
//  - restart 0 starts at the template swap x0 + eps sign(w_wrong - w_win) (L2: eps times the
//    unit vector), w_win being the input strengths of the true class's strongest unit and w_wrong
//    those of the strongest unit of another class. Later restarts start at random.
// On a network without competition the surrogate is the exact gradient, and without a hidden
// layer that feeds the output directly there is no template start: the attack is then PGD-margin
// with other draws.
#include <algorithm>
#include <cmath>

#include "../attack_internal.hpp"
#include "dalenet/attack.hpp"
#include "dalenet/error.hpp"
#include "registry.hpp"

namespace dalenet::detail {

namespace {

// How much of its gradient a silenced unit passes. Sign steps follow it wherever the exact
// gradient is zero, whatever its size. It must stay small where the exact gradient is not: with
// 0.1 the many silenced units of a 2000-unit bio layer outvoted the active ones and the attack
// became weaker than PGD-margin; with 0.01 it is about as strong there and still breaks the toy
// of tests/test_bpda.cpp.
constexpr float kCompetitionLeak = 0.01F;

}  // namespace

bool VotingUnits::exist_in(const Network& net) {
  return net.projections.size() == 2 && net.layers[1].competition != Competition::none;
}

VotingUnits VotingUnits::of(const Network& net) {
  VotingUnits u;
  if (!exist_in(net)) return u;
  const Eigen::Index nE = net.layers[1].excitatory_count();
  // A masked-out synapse has weight 0 (Network::validate enforces it), so its efficacy is 0 too.
  WeightMatrix w;
  net.projections[0].effective_weight(w);
  u.strength = w.topRows(nE);
  u.bias = net.projections[0].bias.head(nE);
  WeightMatrix readout;
  net.projections[1].effective_weight(readout);
  u.classes.assign(static_cast<std::size_t>(nE), -1);
  for (Eigen::Index j = 0; j < nE; ++j) {
    Eigen::Index arg = 0;
    const float top = readout.col(j).maxCoeff(&arg);
    if (top > 0.0F) u.classes[static_cast<std::size_t>(j)] = static_cast<int>(arg);
  }
  return u;
}

Eigen::MatrixXf VotingUnits::drives(const Eigen::Ref<const Eigen::MatrixXf>& X) const {
  Eigen::MatrixXf d = strength * X;
  d.colwise() += bias;
  return d;
}

std::pair<Eigen::Index, Eigen::Index> VotingUnits::strongest(const Eigen::MatrixXf& drive, Eigen::Index b,
                                                             int y) const {
  Eigen::Index win = -1, wrong = -1;
  for (Eigen::Index j = 0; j < drive.rows(); ++j) {
    const int c = classes[static_cast<std::size_t>(j)];
    if (c < 0) continue;
    Eigen::Index& best = c == y ? win : wrong;
    if (best < 0 || drive(j, b) > drive(best, b)) best = j;
  }
  return {win, wrong};
}

Eigen::MatrixXf template_swap_starts(const Network& net, const Eigen::MatrixXf& X, std::span<const std::uint8_t> labels,
                                     ThreatNorm norm, double eps) {
  return template_swap_starts(VotingUnits::of(net), X, labels, norm, eps);
}

Eigen::MatrixXf template_swap_starts(const VotingUnits& units, const Eigen::MatrixXf& X,
                                     std::span<const std::uint8_t> labels, ThreatNorm norm, double eps) {
  if (units.empty()) return {};
  const Eigen::MatrixXf drive = units.drives(X);
  Eigen::MatrixXf start = X;
  const auto e = static_cast<float>(eps);
  for (Eigen::Index b = 0; b < X.cols(); ++b) {
    const auto [win, wrong] = units.strongest(drive, b, labels[static_cast<std::size_t>(b)]);
    if (win < 0 || wrong < 0) continue;  // no template to swap: the clean point
    const Eigen::RowVectorXf d = units.strength.row(wrong) - units.strength.row(win);
    if (norm == ThreatNorm::linf) {
      start.col(b) += e * d.transpose().array().sign().matrix();
    } else if (d.norm() > 0.0F) {
      start.col(b) += (e / d.norm()) * d.transpose();
    }
  }
  return start;
}

AttackInfo pgd_bpda_attack() {
  AttackInfo a;
  a.name = "pgd_bpda";
  a.cost_rank = 4;
  a.white_box = a.iterative = a.in_default_ladder = true;
  a.applies = [](Classifier& model) {  // by default only where there is competition to adapt to
    const auto* network = dynamic_cast<const NetworkClassifier*>(&model);
    if (network == nullptr) return false;
    const auto& layers = network->network().layers;
    return std::any_of(layers.begin(), layers.end(), [](const Layer& l) { return l.competition != Competition::none; });
  };
  a.run = [](const AttackCall& c, Eigen::MatrixXf& adv, PgdStats& restarts) {
    const auto* model = dynamic_cast<const NetworkClassifier*>(&c.model);
    if (model == nullptr) throw InputError("attack: pgd_bpda needs a dalenet network (a NetworkClassifier)");
    NetworkClassifier surrogate(model->network(), false, kCompetitionLeak);
    PgdOptions p = pgd_options(c);
    p.margin_loss = true;
    const Eigen::MatrixXf starts = template_swap_starts(model->network(), c.x0, c.labels, c.opt.norm, c.eps);
    return pgd_attack_keyed(surrogate, c.x0, c.labels, p, c.keys, adv, &restarts,
                            starts.size() == 0 ? nullptr : &starts);
  };
  return a;
}

}  // namespace dalenet::detail
