// A learning rule written outside dalenet's tree: competitive Oja plasticity in the hidden layer
// and a delta-rule readout, loaded by `dalenet` as a plugin (train.plugins; docs/INSTALL.md).
//
// Hidden layer (one layer of n neurons, k-winners-take-all competition): for each example x the
// k neurons with the largest drive z_j = w_j . x + b_j win; they pass relu(z_j - I) downstream,
// I the (k+1)-th largest drive (the network's own kwta forward pass). Only the winners learn, by
// Oja's rule (Oja 1982) on their synaptic drive s_j = w_j . x:
//     dw_j = eta_hidden * s_j * (x - s_j * w_j)
// Hebbian growth s_j x, kept bounded by the decay s_j^2 w_j, which drives |w_j| to 1 without any
// normalisation step, so that winning depends on the angle between w_j and x (a competitive,
// spherical k-means-like code). Both factors are local: the presynaptic rate and the neuron's
// own drive. Averaged over a mini-batch.
//
// Alone, this code collapses: the few neurons closest to the mean image win every example and
// the others never learn. A homeostatic threshold (the "conscience" of DeSieno 1988) keeps each
// neuron near its share of wins k/n: db_j = eta_homeostasis * (k/n - fraction of the batch j won).
//
// Readout: the delta rule on softmax outputs, dW = eta_output * (t - p) y^T, the output neuron's
// error times the presynaptic rate (t: one-hot target, p: softmax of the logits).
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"
#include "dalenet/plugin.hpp"
#include "dalenet/rule.hpp"

namespace {

class OjaRule final : public dalenet::LearningRule {
 public:
  explicit OjaRule(const dalenet::RuleConfig& cfg)
      : eta_hidden_(cfg.params.at("eta_hidden").get<double>()),
        eta_output_(cfg.params.at("eta_output").get<double>()),
        eta_homeostasis_(cfg.params.at("eta_homeostasis").get<double>()),
        winners_(cfg.params.at("winners").get<int>()) {
    if (eta_hidden_ <= 0.0 || eta_output_ <= 0.0 || eta_homeostasis_ < 0.0)
      throw dalenet::ConfigError(
          "rule_params.eta_hidden, eta_output: must be > 0, and rule_params.eta_homeostasis >= 0");
    if (winners_ < 1) throw dalenet::ConfigError("rule_params.winners: must be >= 1");
  }

  std::string name() const override { return "oja"; }

  // The hidden layer competes by k-WTA (so evaluation and attacks run the same network the rule
  // trained) and starts from unit-norm rows with zero thresholds.
  void prepare(dalenet::Network& net, dalenet::Rng& /*rng*/) override {
    if (net.projections.size() != 2)
      throw dalenet::ConfigError("rule oja: network.hidden must name exactly one hidden layer");
    dalenet::Layer& hidden = net.layers[1];
    if (winners_ >= hidden.size())
      throw dalenet::ConfigError("rule_params.winners: must be smaller than the hidden layer (" +
                                 std::to_string(hidden.size()) + ")");
    hidden.competition = dalenet::Competition::kwta;
    hidden.kwta_k = winners_;
    dalenet::Projection& in = net.projections[0];
    in.bias.setZero();
    for (Eigen::Index j = 0; j < in.weight.rows(); ++j) {
      const float norm = in.weight.row(j).norm();
      if (norm > 0.0F) in.weight.row(j) /= norm;
    }
  }

  void begin(const dalenet::Network& /*net*/) override {}

  dalenet::BatchStats train_batch(dalenet::Network& net, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                  std::span<const std::uint8_t> labels) override {
    dalenet::forward(net, X, cache_);
    const Eigen::MatrixXf& y = cache_.act[1];  // hidden rates [n x B]: zero outside the winners
    dalenet::Projection& in = net.projections[0];
    // The winners' synaptic drives s = (z - I) + I - b; zero for the losers.
    const Eigen::MatrixXf synaptic =
        ((cache_.pre[1].rowwise() + cache_.inhibition[1].transpose()).colwise() - in.bias).eval();
    const Eigen::ArrayXXf won = (y.array() > 0.0F).cast<float>();
    const Eigen::MatrixXf s = (won * synaptic.array()).matrix();
    const auto batch = static_cast<float>(X.cols());
    dalenet::BatchStats stats;
    stats.correct = dalenet::count_correct(cache_.logits(), labels);
    Eigen::MatrixXf dlogits;  // (p - t) / B: minus the delta rule's error term, batch-averaged
    stats.loss = dalenet::softmax_cross_entropy(cache_.logits(), labels, dalenet::Reduction::mean, &dlogits);

    // Oja: dW = eta/B (s x^T - diag(sum_b s_jb^2) W).
    const auto eta_h = static_cast<float>(eta_hidden_ * lr_scale());
    const Eigen::VectorXf decay = s.rowwise().squaredNorm();
    in.weight += (eta_h / batch) * (s * X.transpose());
    in.weight -= ((eta_h / batch) * decay).asDiagonal() * in.weight;
    // Homeostatic thresholds: towards k/n wins each.
    const float share = static_cast<float>(winners_) / static_cast<float>(in.bias.size());
    in.bias.array() += static_cast<float>(eta_homeostasis_) * (share - won.rowwise().mean());

    // Delta rule on the readout.
    const auto eta_o = static_cast<float>(eta_output_ * lr_scale());
    dalenet::Projection& out = net.projections[1];
    out.weight -= eta_o * (dlogits * y.transpose());
    out.bias -= eta_o * dlogits.rowwise().sum();
    return stats;
  }

 private:
  double eta_hidden_, eta_output_, eta_homeostasis_;
  int winners_;
  dalenet::ForwardCache cache_;
};

void register_oja() {
  dalenet::RuleInfo info;
  info.name = "oja";
  info.description = "competitive Oja plasticity (k-WTA hidden layer) with a delta-rule readout (plugin example)";
  info.default_sign_init = dalenet::SignInit::free;
  info.make = [](const dalenet::RuleConfig& cfg) { return std::make_unique<OjaRule>(cfg); };
  info.params = {
      {"eta_hidden", "Oja rate of the hidden layer, > 0", 0.001},
      {"eta_output", "delta-rule rate of the readout, > 0", 10.0},
      {"eta_homeostasis", "rate of the homeostatic thresholds, >= 0 (0: off, and the code collapses)", 2.0},
      {"winners", "k of the hidden layer's k-winners-take-all, >= 1", 40},
  };
  dalenet::register_rule(std::move(info));
}

}  // namespace

DALENET_PLUGIN(register_oja)
