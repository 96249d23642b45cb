// The biologically guided rule ("bio"): competitive excitatory Hebbian plasticity with
// multiplicative (exponentiated) updates in the hidden layer, feedback inhibition through
// inhibitory interneurons, homeostatic thresholds, structural plasticity, and a local supervised
// output rule. Every equation, its source and its rationale: docs/RULE.md (labels H1..H5, O1, O2).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"
#include "dalenet/local.hpp"
#include "dalenet/rng.hpp"
#include "rules/bio_architecture.hpp"
#include "rules/gradient_rules.hpp"
#include "rules/kmeans_prototypes.hpp"
#include "rules/row_kernels.hpp"
#include "rules/transmitter_commitment.hpp"
#include "util/gemm.hpp"

namespace dalenet::rules {
namespace {

// count_sign_changes (local.hpp) over two row-major matrices of one shape (rows are contiguous;
// a block view's rows may be strided apart).
std::uint64_t count_flips(const WeightMatrix& before, const Eigen::Ref<const WeightMatrix>& after) {
  std::uint64_t n = 0;
  for (Eigen::Index r = 0; r < before.rows(); ++r)
    n += count_sign_changes(before.row(r).data(), after.row(r).data(), before.cols());
  return n;
}

// H3: competitive Hebbian plasticity. With w_hat the row-normalised weights and
// d_j = w_hat_j . x the neuron's summed normalised input, g_ij = E_r[x_i / d_j] / E_r[1]: the
// gradient of sum_b r_jb ln(w_hat_j . x_b) over its multiplier, so the multiplicative form is
// exponentiated-gradient ascent towards the log-optimal portfolio of the neuron's images (sparse;
// not their mean image: docs/RULE.md, "What H3 converges to").
// Multiplicative: w_ij <- w_hat_ij * exp(eta * c_j * (g_ij - 1)); additive (H3a):
// w_ij <- w_hat_ij + min(1, eta * c_j) * w_hat_ij * (g_ij - 1). c_j = min(5, N * mean_b r_j) speeds
// up rarely winning neurons. Both multiply each weight by a positive factor, so every weight keeps
// its sign by their form (w >= 0 stays >= 0); silent synapses (w = 0) stay 0. From a mixed-sign
// start (docs/RULE.md, "Mixed-sign start") the normalisation and d_j use |w|: the update is
// Hebbian in the magnitude whatever the sign.
//
// H3m ("mean"): competitive learning towards the neuron's normalised mean input,
// w_ij <- w_hat_ij + lambda_j (m_ij - w_hat_ij), m_ij = sum_b r_jb x_ib over the neuron's existing
// synapses, normalised to sum 1 (the M-step of a multinomial mixture: the prototype that the drive
// H1 reads best), lambda_j = min(1, eta * c_j). A convex combination of non-negative terms, so
// w >= 0 stays >= 0; silent synapses (mask 0) get m = 0 and stay 0.
class HiddenEm : public LocalPlasticity {
 public:
  HiddenEm(HiddenUpdate kind, bool signed_efficacy, double eta)
      : kind_(kind), signed_efficacy_(signed_efficacy), eta_(eta), base_eta_(eta) {}
  void set_scale(double s) { eta_ = base_eta_ * s; }
  // The neurons that share the pooled rate (H6b: a window's pool; default: every row), for c_j.
  void set_pool_size(Eigen::Index n) { pool_size_ = n; }
  // H6: row j's synapses lie in the contiguous input span that holds its window (rows of the
  // window and the pixels between them); outside it every weight is 0 for good, so the sweeps
  // over a row's fired examples cover that span only, widened to whole packets of the row kernels
  // (row_kernels.hpp: their fast path wants an aligned g and whole packets; the weights added are
  // 0). A 12 x 12 window of a 28 x 28 image: 336 to 352 of the 784 inputs.
  void set_row_spans(const ReceptiveFields& fields, Eigen::Index rows) {
    spans_.assign(static_cast<std::size_t>(rows), {0, 0});
    const Eigen::Index packet = kernels::kRowPacket, inputs = Eigen::Index{fields.image_side} * fields.image_side;
    for (Eigen::Index j = 0; j < rows && j / fields.units_per_window < fields.count(); ++j) {
      const auto [top, left] = fields.corner(j / fields.units_per_window);
      const Eigen::Index first = (top * fields.image_side + left) / packet * packet;
      const Eigen::Index end = (top + fields.window - 1) * fields.image_side + left + fields.window;
      const Eigen::Index last = std::min(inputs, (end + packet - 1) / packet * packet);
      spans_[static_cast<std::size_t>(j)] = {first, last - first};
    }
  }
  void update(Synapses syn, const LocalBatch& b, PlasticityCounters& counters) override {
    auto& w = syn.weight;
    const Eigen::Index N = w.rows(), P = w.cols(), B = b.pre.cols();
    // H3r: with a third factor m_jb (a global scalar per example, broadcast to every neuron), each
    // example's contribution is weighted by m: g_ij = sum_b m_b r_jb x_ib / d_jb / sum_b r_jb, and
    // its fixed-point term 1 becomes sum_b m_b r_jb / sum_b r_jb (m = 1 gives H3 exactly).
    const bool modulated = b.modulator != nullptr;
    const float eta = static_cast<float>(eta_);
    std::uint64_t flips = 0;
    // One neuron (row) at a time, in parallel (static: a thread takes the rows whose drive it
    // computed in the forward pass, still in its cache, which a dynamic schedule would lose):
    // each row is computed by one thread in a fixed order,
    // so the result does not depend on the thread count. Only the examples in which neuron j fired
    // (r_jb > 0) enter g_ij, so d_jb = w_hat_j . x_b and the sum over b are formed for those alone:
    // under the competition about 5 % of the (j, b) pairs, where two full [N x B] x [B x P]
    // products did 20 times the work. Synaptic scaling w_hat = w / sum_i w_ij is folded into the
    // same sweep; rows summing to 0 stay.
    // Each thread's row buffers persist across batches (no allocation per batch).
    const std::size_t buffers = 3 * static_cast<std::size_t>(omp_get_max_threads());
    if (row_buffers_.size() < buffers) row_buffers_.resize(buffers);
    collect_fired(b.post);
#pragma omp parallel reduction(+ : flips)
    {
      const std::size_t t = 3 * static_cast<std::size_t>(omp_get_thread_num());
      auto& g = row_buffers_[t];
      auto& next = row_buffers_[t + 1];
      auto& magnitude = row_buffers_[t + 2];
      g.resize(P);
      next.resize(P);
      magnitude.resize(P);
#pragma omp for schedule(static)
      for (Eigen::Index j = 0; j < N; ++j) {
        // A row with a negative weight (mixed-sign starts only) works on |w|; the sign check and
        // the row sum are made here, per row, rather than as serial whole-matrix passes.
        const auto [sum, has_negative] = row_magnitude(w.row(j));
        if (has_negative) magnitude = w.row(j).array().abs();
        const float inv = sum > 0.0F ? 1.0F / sum : 1.0F;
        const float* op_row = has_negative ? magnitude.data() : w.row(j).data();
        float rs = 0.0F, ms = 0.0F;
        g.setZero();
        const std::int32_t* fired = fired_.data() + j * B;
        const Eigen::Index fired_count = fired_count_[static_cast<std::size_t>(j)];
        // The inputs the sweeps cover: the whole row, or its window's span (set_row_spans).
        const auto [lo, len] =
            spans_.empty() ? std::pair<Eigen::Index, Eigen::Index>{0, P} : spans_[static_cast<std::size_t>(j)];
        // The examples in groups (kernels::dot_group, axpy_group): the same values, in the same
        // order, as one example at a time.
        for (Eigen::Index f0 = 0; f0 < fired_count; f0 += kernels::kExampleGroup) {
          const int count = static_cast<int>(std::min<Eigen::Index>(kernels::kExampleGroup, fired_count - f0));
          const float* x[kernels::kExampleGroup];
          float rm[kernels::kExampleGroup], dot[kernels::kExampleGroup], step[kernels::kExampleGroup];
          for (int f = 0; f < count; ++f) {
            const Eigen::Index e = fired[f0 + f];
            const float r = b.post(j, e);  // > 0
            rs += r;
            rm[f] = modulated ? r * (*b.modulator)(j, e) : r;
            ms += rm[f];
            x[f] = b.pre.col(e).data() + lo;
          }
          if (kind_ == HiddenUpdate::mean) {  // H3m needs the rate-weighted input sum only
            kernels::axpy_group(g.data() + lo, rm, x, count, len);
            continue;
          }
          kernels::dot_group(op_row + lo, x, count, len, dot);
          for (int f = 0; f < count; ++f) {
            const float d = inv * dot[f];  // w_hat_j . x_b
            // An example that reaches none of the neuron's synapses (d = 0; with H6's windows, a
            // blank window: the neuron fired on its threshold alone) adds nothing to g_ij on them.
            // Its x_i / d on the absent synapses would be ~1e12 x_i: harmless on a weight of 0
            // until exp overflows to inf and 0 * inf makes a NaN.
            step[f] = rm[f] / (d + 1e-12F);
            if (!(dot[f] > 0.0F)) step[f] = 0.0F;
          }
          kernels::axpy_group(g.data() + lo, step, x, count, len);
        }
        auto row = w.row(j).array();
        if (!(rs > 0.0F)) {  // a neuron that did not fire does not learn (scaling only)
          next = row * inv;
        } else {
          const auto pool = static_cast<float>(pool_size_ > 0 ? pool_size_ : N);
          const float c = std::min(5.0F, pool * rs / static_cast<float>(B));
          g /= rs;
          const float one = modulated ? ms / rs : 1.0F;
          const float lambda = std::min(1.0F, eta * c);  // step of the convex forms (H3a, H3m)
          if (kind_ == HiddenUpdate::mean) {
            // m over the existing synapses only (a silent one has no presynaptic partner left).
            g *= syn.mask.row(j).array().cast<float>();
            const float total = g.sum();
            next = row * inv;
            if (total > 0.0F) next = (1.0F - lambda) * next + (lambda / total) * g;
          } else if (kind_ == HiddenUpdate::additive) {
            next = row * inv * (1.0F + lambda * (g - one));
          } else if (signed_efficacy_ && has_negative) {
            next = row * inv * (eta * c * (g - one) * row.sign()).exp();
          } else {
            // H3 (the default): in place, the sign flips counted in the same sweep.
            flips += kernels::scale_exp_in_place(w.row(j).data(), g.data(), P, inv, eta * c, one);
            continue;
          }
        }
        // Sign flips of this row (zero counts as no sign), counted before the row is overwritten.
        flips += count_sign_changes(w.row(j).data(), next.data(), P);
        row = next;
      }
    }
    counters.sign_flips += flips;
  }

 private:
  // The examples each neuron fired for (post > 0), in order: row j's in
  // fired_[j * B, j * B + fired_count_[j]).
  void collect_fired(const Eigen::Ref<const Eigen::MatrixXf>& post) {
    const Eigen::Index N = post.rows(), B = post.cols();
    // One contiguous sweep over the rates (column-major), blocks of rows in parallel; reading
    // row j's B rates with stride N, a compare and a mostly untaken branch each, cost more.
    fired_.resize(static_cast<std::size_t>(N * B));
    fired_count_.resize(static_cast<std::size_t>(N));
    constexpr Eigen::Index kRowBlock = 64;
#pragma omp parallel for schedule(static) if (N * B >= 65536)
    for (Eigen::Index j0 = 0; j0 < N; j0 += kRowBlock) {
      const Eigen::Index j1 = std::min(N, j0 + kRowBlock);
      std::fill(fired_count_.begin() + j0, fired_count_.begin() + j1, 0);
      for (Eigen::Index e = 0; e < B; ++e) {
        const float* r = post.col(e).data();
        // Branch-free (under the competition a few rates in a hundred are > 0, unpredictably): e is
        // written to the row's next slot either way and kept only if the neuron fired (a slot
        // index never exceeds e).
        for (Eigen::Index j = j0; j < j1; ++j) {
          auto& count = fired_count_[static_cast<std::size_t>(j)];
          fired_[static_cast<std::size_t>(j * B + count)] = static_cast<std::int32_t>(e);
          count += r[j] > 0.0F ? 1 : 0;
        }
      }
    }
  }

  HiddenUpdate kind_;
  bool signed_efficacy_;
  double eta_, base_eta_;
  Eigen::Index pool_size_ = 0;                                       // 0: the number of rows
  std::vector<std::pair<Eigen::Index, Eigen::Index>> spans_;         // per row: first input, count; empty: all
  std::vector<Eigen::Array<float, 1, Eigen::Dynamic>> row_buffers_;  // g, next, |w_j| per thread [P]
  std::vector<std::int32_t> fired_;                                  // [N x B] examples per neuron
  std::vector<Eigen::Index> fired_count_;                            // [N]
};

// O1: three-factor delta rule at the output neuron, multiplicative so that every weight keeps its
// sign (the non-negative weights of excitatory hidden neurons stay non-negative):
// V_kj <- V_kj * exp(eta * s_kj * mean_b h_j (t_k - y_k)), with y = softmax(V h + c) the output
// neuron's own rate, t_k the teaching signal it receives and s_kj = sign(V_kj) the synapse's own
// sign (1 from the default start; from a mixed-sign start an inhibitory synapse weakens where an
// excitatory one would strengthen: the exponentiated-gradient form of the delta rule, EG+-).
class OutputDelta : public LocalPlasticity {
 public:
  explicit OutputDelta(double eta) : eta_(eta), base_eta_(eta) {}
  void set_scale(double s) { eta_ = base_eta_ * s; }
  void update(Synapses syn, const LocalBatch& b, PlasticityCounters& counters) override {
    before_ = syn.weight;
    const auto B = static_cast<float>(b.pre.cols());
    step_.resize(b.modulator->rows(), b.pre.rows());
    detail::product_into(step_, *b.modulator, b.pre.transpose());  // sum_b (t - y)_k h_j
    // The sign factor in its own statement, and only when needed: inside the exp expression it
    // made Eigen fall back to the scalar exp, which rounds differently from the vectorised one.
    if (any_negative(syn.weight)) step_.array() *= syn.weight.array().sign();
    syn.weight.array() *= (static_cast<float>(eta_) / B * step_.array()).exp();
    counters.sign_flips += count_flips(before_, syn.weight);
  }

 private:
  double eta_, base_eta_;
  WeightMatrix before_, step_;
};

// O2: Hebbian learning combined with weight perturbation (the predecessor's output rule, as
// summarised). Each synapse draws its own noise xi ~ N(0, 1) and the circuit is evaluated with
// V' = V * exp(sigma * xi); one global scalar, the change in performance dR = R(V') - R(V)
// (R = -cross-entropy on the batch), broadcast to all synapses, then drives
// ln|V| <- ln|V| + eta * dR / sigma * xi + eta_hebb * sign(V) * mean_b h_j (t_k - 1/C) (label-gated
// Hebbian; the sign as in O1).
class OutputPerturbation : public LocalPlasticity {
 public:
  OutputPerturbation(double eta, double sigma, double eta_hebb) : eta_(eta), sigma_(sigma), eta_hebb_(eta_hebb) {}
  // Draws this batch's noise and returns the perturbed weights.
  const WeightMatrix& propose(const WeightMatrix& v, Rng& rng) {
    xi_.resize(v.rows(), v.cols());
    for (Eigen::Index k = 0; k < xi_.size(); ++k) xi_.data()[k] = static_cast<float>(rng.normal());
    perturbed_ = (v.array() * (static_cast<float>(sigma_) * xi_.array()).exp()).matrix();
    return perturbed_;
  }
  // batch.global = dR; batch.modulator = label gate (t - 1/C) per output neuron.
  void update(Synapses syn, const LocalBatch& b, PlasticityCounters& counters) override {
    before_ = syn.weight;
    // Some weight negative (a mixed-sign start): signed Hebbian term and |V| sums below.
    const bool has_negative = any_negative(before_);
    const auto B = static_cast<float>(b.pre.cols());
    hebb_.noalias() = (*b.modulator) * b.pre.transpose();
    if (has_negative) hebb_.array() *= syn.weight.array().sign();
    const auto step =
        static_cast<float>(eta_ * b.global / sigma_) * xi_.array() + static_cast<float>(eta_hebb_) / B * hebb_.array();
    syn.weight.array() *= step.exp();
    // Synaptic scaling at each output neuron (as in H3): the label-gated Hebbian term alone grows
    // without bound, so each neuron keeps its initial total weight; shape and signs are unchanged.
    // (|V| only from a mixed-sign start: the plain sums keep earlier results bit-identical.)
    if (target_sum_.size() != syn.weight.rows()) target_sum_ = magnitude_row_sums(before_, has_negative);
    const Eigen::VectorXf sums = magnitude_row_sums(syn.weight, has_negative);
    for (Eigen::Index k = 0; k < syn.weight.rows(); ++k)
      if (sums(k) > 0.0F) syn.weight.row(k) *= target_sum_(k) / sums(k);
    counters.sign_flips += count_flips(before_, syn.weight);
  }

 private:
  Eigen::VectorXf target_sum_;
  double eta_, sigma_, eta_hebb_;
  WeightMatrix xi_, perturbed_, before_, hebb_;
};

// O1's third factor. On entry y holds the output logits [C x B]; on exit y = softmax(logits), the
// output neurons' rates, and teach = t - y with t the one-hot teaching signal.
void teaching_from_logits(Eigen::MatrixXf& y, std::span<const std::uint8_t> labels, Eigen::MatrixXf& teach) {
  for (Eigen::Index b = 0; b < y.cols(); ++b) {
    y.col(b).array() -= y.col(b).maxCoeff();
    y.col(b) = y.col(b).array().exp();
    y.col(b) /= y.col(b).sum();
  }
  flush_subnormals(y);  // the rates of confidently wrong outputs (backprop.hpp)
  teach = -y;
  for (Eigen::Index b = 0; b < y.cols(); ++b) teach(labels[static_cast<std::size_t>(b)], b) += 1.0F;
}

// H3 / H3a / H3m from the config (the one place that checks how bio.hidden_update and
// bio.signed_hebbian combine); null for the k-means control, which is not a Hebbian update.
std::unique_ptr<HiddenEm> make_hidden_em(const BioConfig& c) {
  if (c.signed_hebbian == SignedHebbian::efficacy && c.hidden_update != HiddenUpdate::multiplicative)
    throw ConfigError(
        "bio.signed_hebbian = \"efficacy\" needs bio.hidden_update = \"multiplicative\" (the additive step "
        "would flip signs)");
  if (c.hidden_update == HiddenUpdate::kmeans) return nullptr;
  return std::make_unique<HiddenEm>(c.hidden_update, c.signed_hebbian == SignedHebbian::efficacy, c.eta_hidden);
}

class BioRule : public LearningRule {
 public:
  explicit BioRule(const RuleConfig& cfg) : cfg_(cfg.bio) {
    cache_.forward_only = true;  // the rule's passes need no backward (their efficacy runs faster so)
    const auto& c = cfg_;
    hidden_ = make_hidden_em(c);
    check_bio_competition(c);
    if (c.hidden_modulation == HiddenModulation::reward && c.hidden_update != HiddenUpdate::multiplicative)
      throw ConfigError(
          "bio.hidden_modulation = \"reward\" needs bio.hidden_update = \"multiplicative\" (a negative scalar in "
          "the additive step could flip signs)");
    if (c.hidden_modulation == HiddenModulation::reward && !c.output_in_plastic_phase)
      throw ConfigError(
          "bio.hidden_modulation = \"reward\" needs bio.output_in_plastic_phase = true (the reward is whether the "
          "network's answer was right, which needs an output that learns while the hidden layer does)");
    if (!c.output_in_plastic_phase && c.readout_epochs == 0 && c.hidden_plasticity)
      throw ConfigError(
          "bio.output_in_plastic_phase = false needs bio.readout_epochs > 0 (the output rule would never learn)");
    if (c.hidden_update == HiddenUpdate::kmeans && (c.structural || c.homeostasis))
      throw ConfigError(
          "bio.hidden_update = \"kmeans\" (the k-means control) needs bio.structural = false and bio.homeostasis = "
          "false: H4 and H5 are part of the rule, and H5 would remove synapses that the prototypes then rewrite");
    if (c.commitment && c.output_rule != OutputRule::delta)
      throw ConfigError("bio.commitment = true needs bio.output_rule = \"delta\" (D2 reads the output rates of O1)");
    if (c.output_rule == OutputRule::delta) {
      output_ = std::make_unique<OutputDelta>(c.eta_output);
    } else {
      perturbation_ = std::make_unique<OutputPerturbation>(c.eta_output, c.perturbation_sigma, c.eta_hebbian);
    }
  }
  std::string name() const override { return "bio"; }

  void prepare(Network& net, Rng& rng) override {
    rng_ = Rng(rng.next_u64(), 3);
    n_exc_ = prepare_bio_architecture(net, cfg_, "bio");
    const Eigen::Index pool_size = net.layers[1].pool_size();
    if (hidden_) {
      hidden_->set_pool_size(pool_size);
      if (net.projections[0].receptive_fields.enabled())
        hidden_->set_row_spans(net.projections[0].receptive_fields, n_exc_);
    }
    Projection& in = net.projections[0];
    Projection& out = net.projections[1];
    // From network.sign_init = "per_neuron" every plastic weight starts >= 0 (inputs and hidden E
    // neurons are excitatory). From "mixed" (or "free") signs are random per synapse and the rule
    // runs unchanged on them: whether Dale's law emerges is then measured (docs/RULE.md).
    signed_ = (in.weight.topRows(n_exc_).array() < 0.0F).any() || (out.weight.leftCols(n_exc_).array() < 0.0F).any();
    if (cfg_.initial_density < 1.0) {  // a sparse random start: each potential synapse kept independently
      Rng draw(rng.next_u64(), 6);
      for (Eigen::Index i = 0; i < n_exc_; ++i)
        for (Eigen::Index j = 0; j < in.weight.cols(); ++j)
          if (draw.uniform() >= cfg_.initial_density) {
            in.mask(i, j) = 0;
            in.weight(i, j) = 0.0F;
          }
    }
    net.layers[1].rate = Eigen::VectorXf::Constant(net.layers[1].size(), 1.0F / static_cast<float>(pool_size));
    if (cfg_.commitment) start_commitment(net, rng);
  }

  // D1: a commitment per presynaptic neuron of both plastic projections (the inputs onto the E
  // rows, the E neurons onto the outputs).
  void start_commitment(Network& net, Rng& rng) {
    const CommitmentParams params{cfg_.commitment_gamma, cfg_.commitment_interval, cfg_.commitment_noise,
                                  cfg_.commitment_regrowth, cfg_.commitment_regrowth_size};
    Rng draw(rng.next_u64(), 7);
    Projection& in = net.projections[0];
    Projection& out = net.projections[1];
    // D5 at the output only: at the input, H5's own regrowth (bio.regrowth) applies, so that the
    // sparsity H5 leaves is not refilled.
    CommitmentParams input_params = params;
    input_params.regrowth = 0.0;
    input_commitment_ = std::make_unique<TransmitterCommitment>(input_params);
    output_commitment_ = std::make_unique<TransmitterCommitment>(params);
    input_commitment_->start({in.weight.topRows(n_exc_), in.mask.topRows(n_exc_)}, draw);
    output_commitment_->start({out.weight.leftCols(n_exc_), out.mask.leftCols(n_exc_)}, draw);
  }

  void begin(const Network& net) override {
    if (net.projections[0].efficacy != Efficacy::log_normalized) throw ConfigError("bio: prepare() was not run");
    batches_ = 0;
    epoch_ = {};
  }

  // O1c: the readout phase is the last bio.readout_epochs epochs, but never the whole run: a run
  // shortened with --set train.epochs=N keeps at least one plastic epoch (train.epochs = 1 is a
  // plastic run). metrics.epochs[].rule.readout_phase records what each epoch was.
  int readout_epochs(int epochs) const {
    return static_cast<int>(std::min<std::int64_t>(cfg_.readout_epochs, std::max(0, epochs - 1)));
  }
  void begin_epoch(int epoch, int epochs) override {
    // Without hidden plasticity (the random-features control) every epoch is a readout epoch.
    readout_phase_ = !cfg_.hidden_plasticity || epoch > epochs - readout_epochs(epochs);
    // O1c: the output rule learns in this epoch (always, unless it waits for the readout phase and
    // this run has one).
    output_learns_ = readout_phase_ || cfg_.output_in_plastic_phase || readout_epochs(epochs) == 0;
    exponent_ = cfg_.hebbian_exponent;
    if (cfg_.hebbian_anneal) {  // H3p annealed: 1 in the first plastic epoch, hebbian_exponent in the last
      const int plastic = epochs - readout_epochs(epochs);
      const double progress = plastic > 1 ? static_cast<double>(epoch - 1) / (plastic - 1) : 1.0;
      exponent_ = 1.0 + (cfg_.hebbian_exponent - 1.0) * std::min(1.0, progress);
    }
  }
  // Each phase gets the whole train.lr_schedule, so the plastic phase of an (E + R)-epoch run is
  // exactly an E-epoch run.
  std::vector<int> schedule_restarts(int epochs) const override {
    const int r = readout_epochs(epochs);
    if (r == 0) return {};
    return {epochs - r};
  }

  BatchStats train_batch(Network& net, const Eigen::Ref<const Eigen::MatrixXf>& X,
                         std::span<const std::uint8_t> labels) override {
    // train.lr_schedule scales every plasticity rate (the rule's own "learning rate").
    if (hidden_) hidden_->set_scale(lr_scale());
    if (output_) output_->set_scale(lr_scale());
    const float eta_out = static_cast<float>(cfg_.eta_output * lr_scale());
    forward(net, X, cache_);
    BatchStats s;
    s.loss = softmax_cross_entropy(cache_.logits(), labels, Reduction::mean, nullptr);
    s.correct = count_correct(cache_.logits(), labels);
    const Eigen::Index B = X.cols(), nE = n_exc_;
    Layer& hidden = net.layers[1];
    Projection& in = net.projections[0];
    // H6b's inhibition pools and their size (one pool of N_E without).
    const Eigen::Index pools = hidden.inhibition_pools, pool_size = hidden.pool_size();
    // The excitatory rates, in place (a view; a copy was a serial pass per batch).
    const Eigen::Ref<const Eigen::MatrixXf> h = cache_.act[1].topRows(nE);
    ++epoch_.batches;
    if (readout_phase_) {  // O1c: the hidden code is fixed; only the output rule learns
      epoch_.active += static_cast<double>((h.array() > 0.0F).count()) / static_cast<double>(B);
      output_step(net, h, labels, eta_out);
      return s;
    }

    // Postsynaptic factor of hidden plasticity (H3): each excitatory neuron's rate divided by
    // the pooled excitatory rate (divisive inhibition; a global scalar per example, or with H6b's
    // local pools one per pool and example).
    // H3p (exponent p != 1): y^p, scaled by the column maximum first so that it cannot overflow,
    // as exp(p ln(y/top)): ln 0 = -inf gives 0, and Eigen's vectorised pow draws false
    // "uninitialized" warnings from GCC 12's AVX-512 headers.
    const bool sharpen = exponent_ != 1.0;
    const auto p = static_cast<float>(exponent_);
    r_.resize(nE, B);
    // Columns are independent: shared out over threads, each column by one thread (thread-count
    // independent); the sharpening's log and exp per rate made this loop costly on one thread.
    // The copy of h and the count of active units are made in the same sweep.
    Eigen::Index active = 0;
#pragma omp parallel for schedule(static) if (B >= 16) reduction(+ : active)
    for (Eigen::Index b = 0; b < B; ++b) {
      r_.col(b) = h.col(b);
      active += (r_.col(b).array() > 0.0F).count();
      for (Eigen::Index q = 0; q < pools; ++q) {
        auto r = r_.col(b).segment(q * pool_size, pool_size);
        if (sharpen) {
          const float top = r.maxCoeff();
          if (top > 0.0F) r = (p * (r.array() / top).log()).exp().matrix();
        }
        const float total = r.sum();
        if (total > 0.0F) r /= total;
      }
    }
    epoch_.active += static_cast<double>(active) / static_cast<double>(B);

    // H3 on the E rows of the input projection. H3r: the third factor is one global scalar per
    // example, whether the network's answer (before this update) was right: +1, or -reward_punish.
    const Eigen::MatrixXf* hidden_factor = nullptr;
    if (reward_modulated_) {
      const auto& logits = cache_.logits();
      reward_.resize(nE, B);
      for (Eigen::Index b = 0; b < B; ++b) {
        Eigen::Index k = 0;
        logits.col(b).maxCoeff(&k);
        const bool right = k == labels[static_cast<std::size_t>(b)];
        reward_.col(b).setConstant(right ? 1.0F : -static_cast<float>(cfg_.reward_punish));
      }
      hidden_factor = &reward_;
    }
    {
      PlasticityCounters pc;
      if (hidden_) {
        hidden_->update({in.weight.topRows(nE), in.mask.topRows(nE)}, {X, r_, hidden_factor, 0.0}, pc);
      } else {  // the k-means control: the prototypes move by the k-means step, not by a Hebbian rule
        if (in.receptive_fields.enabled()) {
          windowed_kmeans_.step(in.weight.topRows(nE), X, in.receptive_fields);
        } else {
          kmeans_.step(in.weight.topRows(nE), X);
        }
      }
      if (input_commitment_)  // D2-D4 at the input terminals; r is H3's postsynaptic factor
        commitment_step(*input_commitment_, {in.weight.topRows(nE), in.mask.topRows(nE)}, {X, r_, nullptr, 0.0}, pc);
      counters_.sign_flips += pc.sign_flips;
    }
    if (output_learns_) output_step(net, h, labels, eta_out);
    // H4: homeostatic thresholds (bias = -theta) from running rates of r.
    if (cfg_.homeostasis) {
      const auto a = static_cast<float>(cfg_.rate_decay);
      hidden.rate.head(nE) = (1.0F - a) * hidden.rate.head(nE) + a * r_.rowwise().mean();
      // Each neuron's target is its fair share of its pool's activity. The whole layer's pool is
      // active for practically every example, so its share is 1/N_E. A local pool (H6b) is active
      // only for the examples that drive its window: its share is its running activity (the sum of
      // its neurons' running rates) over its size. With 1/size, a window that most images leave
      // blank would lower its neurons' thresholds until they fired without input.
      const auto size = static_cast<float>(pool_size);
      const auto beta = static_cast<float>(cfg_.homeostasis_rate) * size;
      if (pools == 1) {
        in.bias.head(nE).array() -= beta * (hidden.rate.head(nE).array() - 1.0F / size);
      } else {
        for (Eigen::Index q = 0; q < pools; ++q) {
          const auto rate = hidden.rate.segment(q * pool_size, pool_size).array();
          const float target = rate.sum() / size;
          in.bias.segment(q * pool_size, pool_size).array() -= beta * (rate - target);
        }
      }
    }
    // H5: structural plasticity every structural_interval batches.
    if (cfg_.structural && ++batches_ % cfg_.structural_interval == 0) structural_step(net);
    return s;
  }

  RuleCounters counters() const override {
    return counters_;
  }

  // One batch of a transmitter commitment; the synapses it removes count as eliminations.
  void commitment_step(TransmitterCommitment& c, Synapses syn, const LocalBatch& batch, PlasticityCounters& pc) {
    const std::uint64_t eliminated = c.eliminations(), created = c.creations();
    c.update(std::move(syn), batch, pc);
    counters_.eliminations += c.eliminations() - eliminated;
    counters_.creations += c.creations() - created;
  }

  // The output rule on the excitatory rates h [N_E x B] of this batch (forward already run).
  void output_step(Network& net, const Eigen::Ref<const Eigen::MatrixXf>& h, std::span<const std::uint8_t> labels,
                   float eta_out) {
    if (perturbation_) {
      output_perturbation_step(net, h, labels);
      return;
    }
    // O1 on the E columns of the output projection: third factor t - y at each output neuron.
    Projection& out = net.projections[1];
    const Eigen::Index nE = n_exc_;
    y_ = cache_.logits();
    const Eigen::MatrixXf& y = y_;
    teaching_from_logits(y_, labels, teach_);
    PlasticityCounters pc;
    output_->update({out.weight.leftCols(nE), out.mask.leftCols(nE)}, {h, y, &teach_, 0.0}, pc);
    out.bias += eta_out / static_cast<float>(h.cols()) * teach_.rowwise().sum();
    if (output_commitment_)  // D2-D4 at the E neurons' terminals; the output rates y are O1's
      commitment_step(*output_commitment_, {out.weight.leftCols(nE), out.mask.leftCols(nE)}, {h, y, nullptr, 0.0}, pc);
    counters_.sign_flips += pc.sign_flips;
  }

  nlohmann::json epoch_log(const Network& net) override {
    const Projection& in = net.projections[0];
    const Eigen::Index nE = n_exc_;
    std::int64_t non_silent = 0;
    for (Eigen::Index i = 0; i < nE; ++i)
      for (Eigen::Index j = 0; j < in.weight.cols(); ++j) non_silent += in.mask(i, j) != 0 ? 1 : 0;
    const Eigen::VectorXf rate = net.layers[1].rate.head(nE);
    nlohmann::json j = {
        {"non_silent_input_synapses", non_silent},
        {"input_synapses", nE * in.weight.cols()},
        {"eliminations", counters_.eliminations - epoch_start_.eliminations},
        {"creations", counters_.creations - epoch_start_.creations},
        {"mean_active_per_example", epoch_.batches ? epoch_.active / static_cast<double>(epoch_.batches) : 0.0},
        {"rate_min", rate.minCoeff()},
        {"rate_max", rate.maxCoeff()},
        {"readout_phase", readout_phase_},
        {"hebbian_exponent", exponent_}};
    if (in.receptive_fields.enabled())  // H6: the synapses the windows allow
      j["potential_input_synapses"] = in.receptive_fields.potential_synapses();
    if (input_commitment_) {
      j["commitment"] = {{"input", commitment_log(input_commitment_->commitment())},
                         {"hidden", commitment_log(output_commitment_->commitment())}};
    }
    epoch_start_ = counters_;
    epoch_ = {};
    return j;
  }

 private:
  // Performance of the output layer with E-column weights v: R = -mean cross-entropy.
  double performance(const WeightMatrix& v, const Eigen::VectorXf& bias, const Eigen::Ref<const Eigen::MatrixXf>& h,
                     std::span<const std::uint8_t> labels) {
    logits_.noalias() = v * h;
    logits_.colwise() += bias;
    return -softmax_cross_entropy(logits_, labels, Reduction::mean, nullptr);
  }

  void output_perturbation_step(Network& net, const Eigen::Ref<const Eigen::MatrixXf>& h,
                                std::span<const std::uint8_t> labels) {
    Projection& out = net.projections[1];
    const Eigen::Index nE = n_exc_, B = h.cols(), C = out.weight.rows();
    WeightMatrix vE = out.weight.leftCols(nE);
    const double r0 = performance(vE, out.bias, h, labels);
    const double r1 = performance(perturbation_->propose(vE, rng_), out.bias, h, labels);
    Eigen::MatrixXf gate = Eigen::MatrixXf::Constant(C, B, -1.0F / static_cast<float>(C));
    for (Eigen::Index b = 0; b < B; ++b) gate(labels[static_cast<std::size_t>(b)], b) += 1.0F;
    MaskMatrix mE = out.mask.leftCols(nE);
    PlasticityCounters pc;
    perturbation_->update({vE, mE}, {h, h, &gate, r1 - r0}, pc);
    out.weight.leftCols(nE) = vE;
    out.bias += static_cast<float>(cfg_.eta_hebbian) / static_cast<float>(B) * gate.rowwise().sum();
    counters_.sign_flips += pc.sign_flips;
  }

  // Synapses whose normalised weight fell to the efficacy floor (they already contribute
  // nothing to the drive) are removed; with regrowth > 0, silent sites regrow at random with a
  // small weight just above the floor.
  void structural_step(Network& net) {
    Projection& in = net.projections[0];
    const float floor = in.efficacy_floor;
    for (Eigen::Index i = 0; i < n_exc_; ++i) {
      const float sum = in.weight.row(i).cwiseAbs().sum();
      if (!(sum > 0.0F)) continue;
      for (Eigen::Index j = 0; j < in.weight.cols(); ++j) {
        if (in.mask(i, j) != 0 && std::abs(in.weight(i, j)) / sum <= floor) {
          in.mask(i, j) = 0;
          in.weight(i, j) = 0.0F;
          ++counters_.eliminations;
        } else if (in.mask(i, j) == 0 && cfg_.regrowth > 0.0 && in.receptive_fields.potential(i, j) &&
                   rng_.uniform() < cfg_.regrowth) {
          // A regrown synapse takes a random sign when the run started from mixed signs, so
          // regrowth cannot hand Dale's law back to the network. Under transmitter commitment it
          // acts at its class's share (D1), and a class the input has given up is not regrown.
          // (Its sign is then + with probability a_j, as in D5.)
          const float a = input_commitment_ ? input_commitment_->commitment()(j) : 0.5F;
          const float sign = signed_ && rng_.uniform() < 1.0 - static_cast<double>(a) ? -1.0F : 1.0F;
          float share = 1.0F;
          if (input_commitment_) share = sign > 0.0F ? a : 1.0F - a;
          if (share == 0.0F) continue;
          in.mask(i, j) = 1;
          in.weight(i, j) = sign * 10.0F * floor * sum * share;
          ++counters_.creations;
        }
      }
    }
  }

  // The state of one population's commitments: the fraction committed (a = 0 or 1), the fraction
  // committed or leaning inhibitory (a < 1/2), and the mean |2a - 1| (0 at the start, 1 committed).
  static nlohmann::json commitment_log(const Eigen::VectorXf& a) {
    const auto n = static_cast<double>(std::max<Eigen::Index>(1, a.size()));
    const auto committed = (a.array() == 0.0F || a.array() == 1.0F).count();
    const auto inhibitory = (a.array() < 0.5F).count();
    return {{"committed_fraction", static_cast<double>(committed) / n},
            {"inhibitory_fraction", static_cast<double>(inhibitory) / n},
            {"mean_polarisation", (2.0F * a.array() - 1.0F).abs().mean()}};
  }

  BioConfig cfg_;
  // H3r (bio.hidden_modulation = "reward"), parsed once: the training loop compares no strings.
  bool reward_modulated_ = cfg_.hidden_modulation == HiddenModulation::reward;
  std::unique_ptr<TransmitterCommitment> input_commitment_, output_commitment_;  // D1-D5 (bio.commitment)
  std::unique_ptr<HiddenEm> hidden_;  // null for the k-means control (bio.hidden_update = "kmeans")
  KMeansPrototypes kmeans_;
  WindowedKMeans windowed_kmeans_;  // the k-means control under H6's windows
  std::unique_ptr<OutputDelta> output_;
  std::unique_ptr<OutputPerturbation> perturbation_;
  Eigen::MatrixXf logits_;
  Eigen::Index n_exc_ = 0;
  ForwardCache cache_;
  Eigen::MatrixXf r_, y_, teach_, reward_;  // per-batch buffers, kept to avoid reallocation
  RuleCounters counters_, epoch_start_;
  bool readout_phase_ = false;               // O1c: this epoch trains the output rule alone
  bool output_learns_ = true;                // O1c: the output rule learns in this epoch
  double exponent_ = cfg_.hebbian_exponent;  // H3p's exponent in this epoch (begin_epoch anneals it)
  struct {
    double active = 0.0;
    std::int64_t batches = 0;
  } epoch_;
  std::int64_t batches_ = 0;
  bool signed_ = false;  // some plastic weight started negative (network.sign_init = "mixed")
  Rng rng_;              // structural regrowth and output perturbations; seeded in prepare()
};

}  // namespace

ReceptiveFields receptive_fields(const BioConfig& cfg, Eigen::Index inputs, Eigen::Index n_exc) {
  ReceptiveFields rf;
  rf.image_side = static_cast<int>(std::lround(std::sqrt(static_cast<double>(inputs))));
  if (static_cast<Eigen::Index>(rf.image_side) * rf.image_side != inputs)
    throw ConfigError("bio.window needs a square input image; this one has " + std::to_string(inputs) + " pixels");
  if (cfg.window > rf.image_side)
    throw ConfigError("bio.window = " + std::to_string(cfg.window) + " is larger than the " +
                      std::to_string(rf.image_side) + "-pixel image");
  rf.window = cfg.window;
  rf.stride = cfg.window_stride;
  const Eigen::Index windows = rf.count();
  if (n_exc % windows != 0)
    throw ConfigError(fmt::format(
        "bio.window = {} with bio.window_stride = {} gives {} windows, which do not share the {} excitatory hidden "
        "neurons equally (set network.hidden so that N_E is a multiple of {})",
        cfg.window, cfg.window_stride, windows, n_exc, windows));
  rf.units_per_window = static_cast<int>(n_exc / windows);
  return rf;
}

void check_bio_competition(const BioConfig& cfg) {
  if (enum_name(kBioCompetitionNames, cfg.competition).empty())
    throw ConfigError("bio.competition: " + to_string(cfg.competition) + " is not feedback_inhibition or kwta");
}

Eigen::Index prepare_bio_architecture(Network& net, const BioConfig& cfg, const std::string& rule) {
  if (net.layers.size() != 3)
    throw ConfigError("train.rule = \"" + rule + "\" needs exactly one hidden layer (network.hidden = [N])");
  Layer& hidden = net.layers[1];
  hidden.competition = cfg.competition;
  hidden.inhibition_gain = cfg.inhibition_gain;
  hidden.kwta_k = cfg.kwta_k;
  hidden.divisive = cfg.divisive;  // H2b: optionally, rates sent on are normalised by the pool
  Projection& in = net.projections[0];
  Projection& out = net.projections[1];
  in.efficacy = Efficacy::log_normalized;
  // Interneurons receive no feedforward input and do not project to the output: their
  // synapses are the E -> I -> E loop of the competition (fixed, see docs/RULE.md H2).
  const Eigen::Index n_exc = hidden.excitatory_count();
  in.mask = MaskMatrix::Ones(in.weight.rows(), in.weight.cols());
  in.mask.bottomRows(in.weight.rows() - n_exc).setZero();
  in.weight.bottomRows(in.weight.rows() - n_exc).setZero();
  in.bias.setZero();
  // The floor is a fraction of the uniform share over a neuron's potential synapses.
  Eigen::Index fan_in = in.num_pre();
  if (cfg.window > 0) {
    in.receptive_fields = receptive_fields(cfg, in.num_pre(), n_exc);
    for (Eigen::Index i = 0; i < n_exc; ++i)
      for (Eigen::Index j = 0; j < in.num_pre(); ++j)
        if (!in.receptive_fields.potential(i, j)) {
          in.mask(i, j) = 0;
          in.weight(i, j) = 0.0F;
        }
    fan_in = static_cast<Eigen::Index>(cfg.window) * cfg.window;
    if (cfg.local_inhibition) hidden.inhibition_pools = in.receptive_fields.count();
  } else if (cfg.local_inhibition) {
    throw ConfigError("bio.local_inhibition = true needs bio.window > 0 (the pools are the windows' neurons)");
  }
  if (hidden.inhibition_pools > 1 && hidden.divisive)
    throw ConfigError(
        "bio.local_inhibition = true and bio.divisive = true: divisive normalisation is by the whole "
        "layer's pool, not implemented per pool");
  in.efficacy_floor = static_cast<float>(cfg.silence_factor / static_cast<double>(fan_in));
  out.mask = MaskMatrix::Ones(out.weight.rows(), out.weight.cols());
  out.mask.rightCols(out.weight.cols() - n_exc).setZero();
  out.weight.rightCols(out.weight.cols() - n_exc).setZero();
  out.bias.setZero();
  return n_exc;
}

std::unique_ptr<LearningRule> make_bio(const RuleConfig& cfg) {
  return std::make_unique<BioRule>(cfg);
}

}  // namespace dalenet::rules

namespace dalenet {

std::unique_ptr<LocalPlasticity> make_hidden_plasticity(const BioConfig& cfg) {
  auto em = rules::make_hidden_em(cfg);
  if (!em)
    throw ConfigError("bio.hidden_update = \"kmeans\" is the k-means control (docs/RULE.md), not a local plasticity");
  return em;
}

std::vector<std::uint8_t> LocalReadout::predict(const Eigen::MatrixXf& features) const {
  Eigen::MatrixXf z = weight * features;
  z.colwise() += bias;
  std::vector<std::uint8_t> out(static_cast<std::size_t>(z.cols()));
  for (Eigen::Index b = 0; b < z.cols(); ++b) {
    Eigen::Index k = 0;
    z.col(b).maxCoeff(&k);
    out[static_cast<std::size_t>(b)] = static_cast<std::uint8_t>(k);
  }
  return out;
}

LocalReadout train_bio_readout(const Eigen::MatrixXf& features, std::span<const std::uint8_t> labels, int classes,
                               double eta, int updates, std::uint64_t seed, double init_low, double init_high) {
  if (classes < 2) throw InputError("train_bio_readout: needs at least 2 classes");
  if (static_cast<std::size_t>(features.cols()) != labels.size())
    throw InputError("train_bio_readout: features and labels differ in count");
  for (const auto l : labels)
    if (l >= classes) throw InputError("train_bio_readout: label " + std::to_string(l) + " outside [0, classes)");
  if (!features.allFinite() || (features.array() < 0.0F).any())
    throw InputError("train_bio_readout: features must be finite, non-negative rates");
  LocalReadout r;
  Rng rng(seed, 0x0D1ULL);
  r.weight.resize(classes, features.rows());
  for (Eigen::Index k = 0; k < r.weight.size(); ++k)
    r.weight.data()[k] = static_cast<float>(init_low + (init_high - init_low) * rng.uniform());
  r.bias = Eigen::VectorXf::Zero(classes);
  MaskMatrix mask = MaskMatrix::Ones(r.weight.rows(), r.weight.cols());
  rules::OutputDelta rule(eta);
  Eigen::MatrixXf y, teach;
  PlasticityCounters pc;
  const auto B = static_cast<float>(features.cols());
  for (int u = 0; u < updates; ++u) {
    y.noalias() = r.weight * features;
    y.colwise() += r.bias;
    rules::teaching_from_logits(y, labels, teach);
    rule.update({r.weight, mask}, {features, y, &teach, 0.0}, pc);
    r.bias += static_cast<float>(eta) / B * teach.rowwise().sum();
  }
  return r;
}

}  // namespace dalenet
