#pragma once
// The audit of a trained model, whatever its rule: sparsity, Dale's law, distributions of the
// synaptic strengths (lognormal vs normal/gamma/exponential, relative and absolute tests, with
// the initial weights as control) and activity sparseness, all measured on the strength the
// forward pass uses; the stored weights in a secondary section. Keys of the JSON are documented in docs/FORMATS.md
// ("Analysis").
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dalenet/data.hpp"
#include "dalenet/io.hpp"
#include "dalenet/stats.hpp"

namespace dalenet {

// What the audit measures a projection on.
enum class WeightQuantity {
  // The synaptic strength the forward pass multiplies the presynaptic rates with
  // (Projection::effective_weight): w for linear projections, the efficacy
  // sign(w) ln(max(|w|/sum|w|, floor)/floor) for log-normalised ones. Every verdict uses this.
  strength,
  // The stored (latent) weight w. For log-normalised projections it is not what the network
  // uses: a synapse at 1 % of its neuron's largest w still carries about half of the largest
  // efficacy. Reported as a secondary, labelled section.
  latent,
};
std::string to_string(WeightQuantity q);

struct AnalyzeOptions {
  // Strength: a synapse is silent if absent (mask 0) or |strength| <= silence_threshold times the
  // largest |strength| among its postsynaptic neuron's synapses. 0 (the default): silent means
  // exactly 0 — the synapse contributes nothing to the drive.
  double silence_threshold = 0.0;
  // The curve: silent fractions at thresholds relative to each neuron's largest |strength|.
  std::vector<double> threshold_curve = {1e-3, 1e-2, 5e-2, 0.1, 0.2, 0.5};
  // Latent section: silent if absent or |w| < latent_silence_threshold x the neuron's max |w|.
  double latent_silence_threshold = 0.01;
  std::size_t activity_limit = 10000;  // examples used for activity statistics
  // Active inputs (docs/EVALUATION.md, "Sparsity beyond the trivial"): an input is *on* in an
  // image when its value (pixels scaled to [0, 1]) is >= input_on_level, and *active* when it is
  // on in at least active_input_min_fraction of the training images. Synapses from inputs that
  // are almost never on (MNIST's border) fall silent under any multiplicative Hebbian rule.
  double input_on_level = 0.5;
  double active_input_min_fraction = 0.01;
  stats::AbsoluteFitOptions absolute_fit;  // the lognormal test's subsample, replicates and level
};

// Per input (pixel), the fraction of `images` in which it is on (value >= on_level).
std::vector<double> input_on_fraction(const Dataset& images, double on_level);

// The audit of a model. `data` may be null (no activity statistics). `training_images` (may be
// null) defines the active inputs; without it the active-input sparsity is absent. The
// initial-weight control is rebuilt from the configuration and seed stored in the model (skipped
// if the model carries none). Keys: docs/FORMATS.md ("Analysis").
nlohmann::json analyze_model(const Model& model, const Dataset* data, const AnalyzeOptions& opts = {},
                             const Dataset* training_images = nullptr);

// Sparsity, Dale and distribution statistics of one network's projections, on `quantity` (used
// for the model and the initial-weight control). `active_inputs` (empty, or one flag per input)
// adds the silent fraction over synapses from active inputs to projection 0.
nlohmann::json analyze_weights(const Network& net, const AnalyzeOptions& opts,
                               WeightQuantity quantity = WeightQuantity::strength,
                               const std::vector<std::uint8_t>& active_inputs = {});

// The range of the ln|strength| histograms in analyze_weights' "log_histogram" (fixed, so that
// histograms of different models and of the initial weights share bins). The efficacy's
// largest value is ln(1/floor) ~ 13.6 for fan-in 784 (ln of it ~ 2.6): the range covers it.
inline constexpr double kLogHistogramLo = -14.0, kLogHistogramHi = 4.0;
inline constexpr int kLogHistogramBins = 72;

// Cheap per-projection structure, logged every epoch by train(): [{projection,
// silent_fraction, dale_compliance}], on the strength, with the same definitions as
// analyze_weights.
nlohmann::json structure_summary(const Network& net, double silence_threshold);

// Activity sparseness of each hidden layer on `data` (up to opts.activity_limit examples).
nlohmann::json analyze_activity(const Network& net, const Dataset& data, const AnalyzeOptions& opts);

// Treves-Rolls / Vinje-Gallant sparseness of non-negative rates r (1: one unit active, 0: all
// equal); Gini coefficient of r. Exposed for tests.
double treves_rolls_sparseness(const std::vector<double>& r);
double gini(std::vector<double> r);

// A short human-readable report of analyze_model's JSON.
std::string analyze_summary(const nlohmann::json& report);

}  // namespace dalenet
