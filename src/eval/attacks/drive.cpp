// pgd_drive: PGD on the drives before inhibition (issue 32, "attacks adapted to sparse
// competition"). Under competition the class is decided by which units win, and the logits see
// only the winners: a wrong class's silent unit gets no gradient through them. The drive loss
//   L(x) = max_{j votes for c != y} d_j(x) - max_{j votes for y} d_j(x),   d = W_E x + b_E,
// (W_E: the efficacy of the excitatory units' synapses) raises the strongest unit of a wrong class
// above the true class's strongest, active or not. Its gradient is w_wrong - w_win, so each step
// is a template swap (attacks/bpda.cpp) re-aimed at the units that are strongest now. Restart 0
// starts at the template swap, later restarts at random. Only the direction comes from the drive
// loss: every success is judged on the exact logits, so the attack cannot overstate.
#include <algorithm>

#include "../attack_internal.hpp"
#include "dalenet/attack.hpp"
#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"
#include "registry.hpp"

namespace dalenet::detail {

namespace {

// The exact network's logits with the drive loss's input gradient. PGD passes each batch's labels
// only inside its loss callback; the margin loss marks the true class with -1 in d loss / d logits
// (margin_gradient), and that is where this reads it.
class DriveMargin final : public Classifier {
 public:
  DriveMargin(const Network& net, const VotingUnits& units) : exact_(net, false), units_(units) {}
  int input_size() const override { return exact_.input_size(); }
  void logits(const Eigen::Ref<const Eigen::MatrixXf>& X, Eigen::MatrixXf& out) override { exact_.logits(X, out); }
  void input_gradient(const Eigen::Ref<const Eigen::MatrixXf>& X, const LossGradient& loss, Eigen::MatrixXf& logits,
                      Eigen::MatrixXf& grad) override {
    exact_.logits(X, logits);
    loss(logits, dlogits_);
    const Eigen::MatrixXf drive = units_.drives(X);
    grad.setZero(X.rows(), X.cols());
    for (Eigen::Index b = 0; b < X.cols(); ++b) {
      Eigen::Index y = 0;
      if (!(dlogits_.col(b).minCoeff(&y) < 0.0F)) continue;  // no true class marked: no step
      const auto [win, wrong] = units_.strongest(drive, b, static_cast<int>(y));
      if (win < 0 || wrong < 0) continue;
      grad.col(b) = (units_.strength.row(wrong) - units_.strength.row(win)).transpose();
    }
  }

 private:
  NetworkClassifier exact_;
  const VotingUnits& units_;
  Eigen::MatrixXf dlogits_;
};

}  // namespace

AttackInfo pgd_drive_attack() {
  AttackInfo a;
  a.name = "pgd_drive";
  a.cost_rank = 4;  // with pgd_bpda, after it in the registry
  a.white_box = a.iterative = a.in_default_ladder = true;
  a.applies = [](Classifier& model) {  // by default where the units it moves exist
    const auto* network = dynamic_cast<const NetworkClassifier*>(&model);
    return network != nullptr && VotingUnits::exist_in(network->network());
  };
  a.run = [](const AttackCall& c, Eigen::MatrixXf& adv, PgdStats& restarts) {
    const auto* model = dynamic_cast<const NetworkClassifier*>(&c.model);
    if (model == nullptr) throw InputError("attack: pgd_drive needs a dalenet network (a NetworkClassifier)");
    const VotingUnits units = VotingUnits::of(model->network());
    if (units.empty()) throw InputError("attack: pgd_drive needs a network input -> competing hidden layer -> output");
    DriveMargin drive(model->network(), units);
    PgdOptions p = pgd_options(c);
    p.margin_loss = true;  // DriveMargin reads the labels from the margin loss's gradient
    const Eigen::MatrixXf starts = template_swap_starts(units, c.x0, c.labels, c.opt.norm, c.eps);
    return pgd_attack_keyed(drive, c.x0, c.labels, p, c.keys, adv, &restarts, &starts);
  };
  return a;
}

}  // namespace dalenet::detail
