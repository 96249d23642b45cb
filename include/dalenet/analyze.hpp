#pragma once
// The audit of a trained model, whatever its rule: sparsity, Dale's law, weight distributions
// (lognormal vs normal/gamma/exponential, with the initial weights as control) and activity
// sparseness. Keys of the JSON are documented in docs/FORMATS.md ("Analysis").
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dalenet/data.hpp"
#include "dalenet/io.hpp"

namespace dalenet {

struct AnalyzeOptions {
  // A synapse is silent if absent (mask 0) or |w| < silence_threshold * max |w| over the
  // postsynaptic neuron's incoming synapses (a relative threshold: units differ between rules).
  double silence_threshold = 0.01;
  std::vector<double> threshold_curve = {1e-4, 1e-3, 1e-2, 5e-2, 1e-1};
  std::size_t activity_limit = 10000;  // examples used for activity statistics
};

// `data` may be null (no activity statistics). The initial-weight control is rebuilt from the
// configuration and seed stored in the model (skipped if the model carries none).
nlohmann::json analyze_model(const Model& model, const Dataset* data, const AnalyzeOptions& opts = {});

// Sparsity, Dale and lognormal statistics of one network's weights (used for the model and the
// initial-weight control).
nlohmann::json analyze_weights(const Network& net, const AnalyzeOptions& opts);

// The range of the ln|w| histograms in analyze_weights' "log_histogram" (fixed, so that
// histograms of different models and of the initial weights share bins).
inline constexpr double kLogHistogramLo = -14.0, kLogHistogramHi = 2.0;
inline constexpr int kLogHistogramBins = 64;

// Cheap per-projection structure, logged every epoch by train(): [{projection,
// silent_fraction, dale_compliance}], with the same definitions as analyze_weights.
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
