#include "dalenet/analyze.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "dalenet/backprop.hpp"
#include "dalenet/config.hpp"
#include "dalenet/error.hpp"
#include "dalenet/rule.hpp"
#include "dalenet/stats.hpp"
#include "dalenet/train.hpp"

namespace dalenet {
namespace {

// The matrix a projection is measured on: its strength (what the forward pass multiplies the
// presynaptic rates with) or its stored weight.
WeightMatrix measured(const Projection& p, WeightQuantity q) {
  if (q == WeightQuantity::latent || p.efficacy == Efficacy::linear) return p.weight;
  WeightMatrix strength;
  p.effective_weight(strength);
  return strength;
}

// Silent mask of a projection measured as M: true where the synapse is absent, exactly 0, or
// below `rel` times its postsynaptic neuron's largest |M| (rel = 0: exactly 0).
std::vector<std::uint8_t> silent_mask(const WeightMatrix& M, const Projection& p, double rel) {
  const Eigen::Index R = M.rows(), C = M.cols();
  std::vector<std::uint8_t> silent(static_cast<std::size_t>(R * C));
  for (Eigen::Index i = 0; i < R; ++i) {
    float mx = 0.0F;
    for (Eigen::Index j = 0; j < C; ++j)
      if (!p.has_mask() || p.mask(i, j) != 0) mx = std::max(mx, std::abs(M(i, j)));
    const double cut = rel * mx;
    for (Eigen::Index j = 0; j < C; ++j) {
      const bool absent = p.has_mask() && p.mask(i, j) == 0;
      const double v = std::abs(M(i, j));
      silent[static_cast<std::size_t>(i * C + j)] = absent || v == 0.0 || v < cut;
    }
  }
  return silent;
}

// Neurons that take part in the feedforward projections of a layer. The interneurons of a layer
// with competition receive no feedforward input and send no feedforward output: they carry the
// competition (network.hpp). Their absent-by-design synapses are left out of every denominator,
// so they do not count as "silent". (Synapses removed by learning do count.)
std::vector<std::uint8_t> in_projection(const Layer& L) {
  std::vector<std::uint8_t> v;
  for (const auto& pop : L.populations)
    for (int k = 0; k < pop.size; ++k)
      v.push_back(L.competition == Competition::none || pop.type == NeuronType::excitatory ? 1 : 0);
  return v;
}

// Per presynaptic neuron (column), the signs of its non-silent outgoing synapses.
struct DaleCounts {
  std::int64_t compliant = 0, matches_type = 0, violating = 0, only_pos = 0, only_neg = 0, mixed = 0, none = 0;
  std::int64_t presynaptic = 0, declared_excitatory = 0, synapses = 0;  // synapses: non-silent, counted here
};
DaleCounts count_dale(const WeightMatrix& M, const std::vector<std::uint8_t>& silent,
                      const std::vector<std::uint8_t>& col_in, const Eigen::VectorXf& declared) {
  const Eigen::Index R = M.rows(), C = M.cols();
  DaleCounts d;
  for (Eigen::Index jj = 0; jj < C; ++jj) {
    if (!col_in[static_cast<std::size_t>(jj)]) continue;
    ++d.presynaptic;
    d.declared_excitatory += declared(jj) > 0 ? 1 : 0;
    std::int64_t pos = 0, neg = 0;
    for (Eigen::Index i = 0; i < R; ++i) {
      if (silent[static_cast<std::size_t>(i * C + jj)]) continue;
      (M(i, jj) > 0 ? pos : neg)++;
    }
    if (pos == 0 && neg == 0)
      ++d.none;
    else if (neg == 0)
      ++d.only_pos;
    else if (pos == 0)
      ++d.only_neg;
    else
      ++d.mixed;
    if (pos == 0 || neg == 0) ++d.compliant;
    d.violating += std::min(pos, neg);
    d.synapses += pos + neg;
    const bool ok_type = declared(jj) > 0 ? neg == 0 : pos == 0;
    if (ok_type) ++d.matches_type;
  }
  return d;
}

nlohmann::json histogram(const std::vector<double>& values, double lo, double hi, int bins) {
  std::vector<std::int64_t> counts(static_cast<std::size_t>(bins), 0);
  for (double v : values) {
    int b = hi > lo ? static_cast<int>((v - lo) / (hi - lo) * bins) : 0;
    b = std::clamp(b, 0, bins - 1);
    counts[static_cast<std::size_t>(b)]++;
  }
  return {{"lo", lo}, {"hi", hi}, {"counts", counts}};
}

TrainConfig config_from_info(const nlohmann::json& cfg) {
  std::vector<std::string> sets;
  for (const auto& [section, keys] : cfg.items())
    for (const auto& [key, value] : keys.items()) sets.push_back(section + "." + key + "=" + value.dump());
  return parse_config("", "model metadata", sets);
}

}  // namespace

double treves_rolls_sparseness(const std::vector<double>& r) {
  const auto n = static_cast<double>(r.size());
  if (r.size() < 2) return 0.0;
  double s = 0.0, s2 = 0.0;
  for (double v : r) {
    s += v;
    s2 += v * v;
  }
  if (s2 <= 0.0) return std::nan("");  // no activity: undefined
  const double a = (s / n) * (s / n) / (s2 / n);
  return (1.0 - a) / (1.0 - 1.0 / n);
}

double gini(std::vector<double> r) {
  if (r.empty()) return 0.0;
  std::sort(r.begin(), r.end());
  double cum = 0.0, weighted = 0.0;
  const auto n = static_cast<double>(r.size());
  for (std::size_t i = 0; i < r.size(); ++i) {
    cum += r[i];
    weighted += (static_cast<double>(i) + 1.0) * r[i];
  }
  if (cum <= 0.0) return 0.0;
  return (2.0 * weighted) / (n * cum) - (n + 1.0) / n;
}

namespace {

// One projection's synapses as the audit counts them: the postsynaptic and presynaptic neurons
// that take part (in_projection) and the silent mask of the measured matrix.
struct ProjectionView {
  const WeightMatrix& M;
  const std::vector<std::uint8_t>& silent;
  const std::vector<std::uint8_t>& row_in;
  const std::vector<std::uint8_t>& col_in;
  bool counted(Eigen::Index i, Eigen::Index j) const {
    return row_in[static_cast<std::size_t>(i)] != 0 && col_in[static_cast<std::size_t>(j)] != 0;
  }
  bool is_silent(Eigen::Index i, Eigen::Index j) const {
    return silent[static_cast<std::size_t>(i * M.cols() + j)] != 0;
  }
};

// Silent synapses among the counted ones whose presynaptic neuron passes `pre` (all: empty) and
// that lie inside their neuron's receptive field (H6; without fields, every synapse does).
std::pair<std::int64_t, std::int64_t> silent_and_potential(const ProjectionView& v,
                                                           const std::vector<std::uint8_t>& pre,
                                                           const ReceptiveFields& fields = {}) {
  std::int64_t silent = 0, potential = 0;
  for (Eigen::Index i = 0; i < v.M.rows(); ++i)
    for (Eigen::Index j = 0; j < v.M.cols(); ++j)
      if (v.counted(i, j) && (pre.empty() || pre[static_cast<std::size_t>(j)] != 0) && fields.potential(i, j)) {
        ++potential;
        silent += v.is_silent(i, j) ? 1 : 0;
      }
  return {silent, potential};
}

double fraction(std::int64_t k, std::int64_t n) {
  return n > 0 ? static_cast<double>(k) / static_cast<double>(n) : 0.0;
}

nlohmann::json sparsity_json(const Projection& p, const ProjectionView& v, const AnalyzeOptions& opts, double threshold,
                             const std::vector<std::uint8_t>& active_inputs) {
  nlohmann::json j;
  const auto [n_silent, potential] = silent_and_potential(v, {});
  j["threshold"] = threshold;
  j["silent_fraction"] = fraction(n_silent, potential);
  j["non_silent"] = potential - n_silent;
  if (!active_inputs.empty()) {
    const auto [k, n] = silent_and_potential(v, active_inputs);
    std::int64_t active = 0;
    for (auto a : active_inputs) active += a;
    j["active_inputs"] = active;
    j["active_input_synapses"] = n;
    j["silent_fraction_active_inputs"] = fraction(k, n);
  }
  // With receptive fields (H6) the synapses outside them are absent by wiring, not silent by
  // learning: these fractions count only the synapses inside (the potential synapses).
  if (p.receptive_fields.enabled()) {
    const auto [k, n] = silent_and_potential(v, {}, p.receptive_fields);
    j["receptive_field_synapses"] = n;
    j["silent_fraction_in_fields"] = fraction(k, n);
    if (!active_inputs.empty()) {
      const auto [ka, na] = silent_and_potential(v, active_inputs, p.receptive_fields);
      j["active_input_synapses_in_fields"] = na;
      j["silent_fraction_in_fields_active_inputs"] = fraction(ka, na);
    }
  }
  nlohmann::json curve = nlohmann::json::array();
  for (double t : opts.threshold_curve) {
    const auto silent_t = silent_mask(v.M, p, t);
    const auto [k, n] = silent_and_potential({v.M, silent_t, v.row_in, v.col_in}, {});
    curve.push_back({{"threshold", t}, {"silent_fraction", fraction(k, n)}});
  }
  j["curve"] = curve;
  std::vector<double> in_deg, out_deg;
  std::int64_t rows_n = 0, cols_n = 0;
  for (auto r : v.row_in) rows_n += r;
  for (auto c : v.col_in) cols_n += c;
  for (Eigen::Index i = 0; i < v.M.rows(); ++i) {
    if (!v.row_in[static_cast<std::size_t>(i)]) continue;
    double d = 0;
    for (Eigen::Index jj = 0; jj < v.M.cols(); ++jj) d += v.counted(i, jj) && !v.is_silent(i, jj) ? 1 : 0;
    in_deg.push_back(d);
  }
  for (Eigen::Index jj = 0; jj < v.M.cols(); ++jj) {
    if (!v.col_in[static_cast<std::size_t>(jj)]) continue;
    double d = 0;
    for (Eigen::Index i = 0; i < v.M.rows(); ++i) d += v.counted(i, jj) && !v.is_silent(i, jj) ? 1 : 0;
    out_deg.push_back(d);
  }
  auto degree = [](const std::vector<double>& deg, double hi) -> nlohmann::json {
    if (deg.empty()) return {{"mean", 0}, {"min", 0}, {"max", 0}};
    return {{"mean", stats::mean(deg)},
            {"min", *std::min_element(deg.begin(), deg.end())},
            {"max", *std::max_element(deg.begin(), deg.end())},
            {"histogram", histogram(deg, 0, hi + 1, 10)}};
  };
  j["in_degree"] = degree(in_deg, static_cast<double>(cols_n));
  j["out_degree"] = degree(out_deg, static_cast<double>(rows_n));
  return j;
}

// Dale's law per presynaptic neuron, over its non-silent outgoing synapses.
nlohmann::json dale_json(const ProjectionView& v, const Eigen::VectorXf& declared) {
  const DaleCounts dc = count_dale(v.M, v.silent, v.col_in, declared);
  const auto cols_d = static_cast<double>(std::max<std::int64_t>(dc.presynaptic, 1));
  return {
      {"presynaptic_neurons", dc.presynaptic},
      {"compliance", static_cast<double>(dc.compliant) / cols_d},
      {"matches_declared_type", static_cast<double>(dc.matches_type) / cols_d},
      {"violating_synapses", dc.violating},
      // How far towards Dale's law, graded: the fraction of non-silent synapses that carry their
      // presynaptic neuron's majority sign (1 = compliant; about 0.5 for signs drawn at random).
      {"majority_sign_fraction",
       dc.synapses ? 1.0 - static_cast<double>(dc.violating) / static_cast<double>(dc.synapses) : 1.0},
      {"realised",
       {{"excitatory", dc.only_pos}, {"inhibitory", dc.only_neg}, {"mixed", dc.mixed}, {"no_output", dc.none}}},
      {"declared", {{"excitatory", dc.declared_excitatory}, {"inhibitory", dc.presynaptic - dc.declared_excitatory}}}};
}

// Fits of the non-silent |values| per sign, with their ln-histograms (fixed range, so that runs
// and the initial weights can be overlaid).
nlohmann::json distribution_json(const ProjectionView& v, const AnalyzeOptions& opts) {
  std::vector<double> pos, neg;
  const Eigen::Index C = v.M.cols();
  for (Eigen::Index k = 0; k < v.M.size(); ++k) {
    if (!v.counted(k / C, k % C) || v.silent[static_cast<std::size_t>(k)]) continue;
    const double w = v.M.data()[k];
    (w > 0 ? pos : neg).push_back(std::abs(w));
  }
  nlohmann::json j;
  for (auto [name, values] : {std::pair{"positive", &pos}, std::pair{"negative", &neg}}) {
    j[name] = stats::lognormal_report(*values, opts.absolute_fit);
    std::vector<double> logs;
    logs.reserve(values->size());
    for (double x : *values) logs.push_back(std::log(x));
    j[name]["log_histogram"] = histogram(logs, kLogHistogramLo, kLogHistogramHi, kLogHistogramBins);
  }
  return j;
}

}  // namespace

std::string to_string(WeightQuantity q) {
  return q == WeightQuantity::strength ? "strength" : "latent";
}

nlohmann::json analyze_weights(const Network& net, const AnalyzeOptions& opts, WeightQuantity quantity,
                               const std::vector<std::uint8_t>& active_inputs) {
  if (!active_inputs.empty() && static_cast<int>(active_inputs.size()) != net.input_size())
    throw InputError(fmt::format("analyze: {} active-input flags for a network of {} inputs", active_inputs.size(),
                                 net.input_size()));
  const double threshold =
      quantity == WeightQuantity::strength ? opts.silence_threshold : opts.latent_silence_threshold;
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t l = 0; l < net.projections.size(); ++l) {
    const Projection& p = net.projections[l];
    const WeightMatrix M = measured(p, quantity);
    const auto silent = silent_mask(M, p, threshold);
    const std::vector<std::uint8_t> row_in = in_projection(net.layers[l + 1]);
    const std::vector<std::uint8_t> col_in = in_projection(net.layers[l]);
    const ProjectionView v{M, silent, row_in, col_in};
    std::int64_t rows_n = 0, cols_n = 0;
    for (auto r : row_in) rows_n += r;
    for (auto c : col_in) cols_n += c;
    nlohmann::json j;
    j["projection"] = l;
    j["pre"] = net.layers[l].name;
    j["post"] = net.layers[l + 1].name;
    j["quantity"] = to_string(quantity);
    j["efficacy"] = to_string(p.efficacy);
    j["synapses"] = rows_n * cols_n;
    j["postsynaptic_neurons"] = rows_n;
    j["sparsity"] = sparsity_json(p, v, opts, threshold, l == 0 ? active_inputs : std::vector<std::uint8_t>{});
    j["dale"] = dale_json(v, net.layers[l].neuron_sign());
    j["distribution"] = distribution_json(v, opts);
    out.push_back(j);
  }
  return out;
}

nlohmann::json structure_summary(const Network& net, double silence_threshold) {
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t l = 0; l < net.projections.size(); ++l) {
    const Projection& p = net.projections[l];
    const WeightMatrix M = measured(p, WeightQuantity::strength);
    const auto silent = silent_mask(M, p, silence_threshold);
    const auto row_in = in_projection(net.layers[l + 1]);
    const auto col_in = in_projection(net.layers[l]);
    const auto [n_silent, potential] = silent_and_potential({M, silent, row_in, col_in}, {});
    const DaleCounts dc = count_dale(M, silent, col_in, net.layers[l].neuron_sign());
    out.push_back({{"projection", l},
                   {"silent_fraction", fraction(n_silent, potential)},
                   {"dale_compliance", dc.presynaptic ? fraction(dc.compliant, dc.presynaptic) : 1.0},
                   {"majority_sign_fraction", dc.synapses ? 1.0 - fraction(dc.violating, dc.synapses) : 1.0},
                   // presynaptic neurons whose non-silent outgoing synapses are all inhibitory
                   {"realised_inhibitory_fraction", dc.presynaptic ? fraction(dc.only_neg, dc.presynaptic) : 0.0}});
  }
  return out;
}

std::vector<double> input_on_fraction(const Dataset& images, double on_level) {
  if (images.size() == 0) throw InputError(images.name + ": no images to define the active inputs");
  // Pixels are stored as bytes and scaled by 1/255 (fill_batch): on when byte >= 255 * on_level.
  const auto cut = static_cast<int>(std::ceil(255.0 * on_level - 1e-9));
  std::vector<std::int64_t> on(static_cast<std::size_t>(images.dim()), 0);
  for (std::size_t n = 0; n < images.size(); ++n) {
    const auto img = images.image(n);
    for (std::size_t i = 0; i < img.size(); ++i) on[i] += img[i] >= cut ? 1 : 0;
  }
  std::vector<double> f(on.size());
  for (std::size_t i = 0; i < on.size(); ++i) f[i] = static_cast<double>(on[i]) / static_cast<double>(images.size());
  return f;
}

nlohmann::json analyze_activity(const Network& net, const Dataset& data, const AnalyzeOptions& opts) {
  if (data.dim() != net.input_size()) throw InputError(data.name + ": image size does not match the network input");
  const std::size_t n = std::min(opts.activity_limit, data.size());
  ForwardCache cache;
  cache.weights_fixed = true;  // the network is const here
  Eigen::MatrixXf X;
  nlohmann::json out = nlohmann::json::array();
  std::vector<Eigen::MatrixXf> acts(net.layers.size());
  for (std::size_t b = 0; b < n; b += 1000) {
    const std::size_t e = std::min(n, b + 1000);
    fill_batch_range(data, b, e, X);
    forward(net, X, cache);
    for (std::size_t l = 1; l + 1 < net.layers.size(); ++l) {
      if (acts[l].size() == 0) acts[l].resize(cache.act[l].rows(), static_cast<Eigen::Index>(n));
      acts[l].middleCols(static_cast<Eigen::Index>(b), static_cast<Eigen::Index>(e - b)) = cache.act[l];
    }
  }
  for (std::size_t l = 1; l + 1 < net.layers.size(); ++l) {
    // In a layer with competition the interneurons carry the shared inhibition level, not a
    // representation: the statistics are over the excitatory neurons only.
    const Eigen::Index units =
        net.layers[l].competition != Competition::none ? net.layers[l].excitatory_count() : acts[l].rows();
    const Eigen::MatrixXf A = acts[l].topRows(units);  // [units x examples]
    const bool nonneg = A.minCoeff() >= 0.0F;
    double pop = 0.0, gi = 0.0;
    std::size_t pop_n = 0;
    for (Eigen::Index s = 0; s < A.cols(); ++s) {
      std::vector<double> r(static_cast<std::size_t>(A.rows()));
      for (Eigen::Index u = 0; u < A.rows(); ++u) r[static_cast<std::size_t>(u)] = std::abs(A(u, s));
      const double sp = treves_rolls_sparseness(r);
      if (!std::isnan(sp)) {
        pop += sp;
        ++pop_n;
      }
      gi += gini(r);
    }
    double life = 0.0;
    std::size_t life_n = 0, dead = 0;
    for (Eigen::Index u = 0; u < A.rows(); ++u) {
      std::vector<double> r(static_cast<std::size_t>(A.cols()));
      for (Eigen::Index s = 0; s < A.cols(); ++s) r[static_cast<std::size_t>(s)] = std::abs(A(u, s));
      const double sp = treves_rolls_sparseness(r);
      if (std::isnan(sp)) {
        ++dead;
      } else {
        life += sp;
        ++life_n;
      }
    }
    const double active = static_cast<double>((A.array().abs() > 1e-6F).count()) / static_cast<double>(A.size());
    out.push_back({{"layer", net.layers[l].name},
                   {"examples", n},
                   {"units", units},
                   {"non_negative", nonneg},
                   {"population_sparseness", pop_n ? pop / static_cast<double>(pop_n) : 0.0},
                   {"lifetime_sparseness", life_n ? life / static_cast<double>(life_n) : 0.0},
                   {"gini", gi / static_cast<double>(A.cols())},
                   {"fraction_active", active},
                   {"never_active_units", dead}});
  }
  return out;
}

nlohmann::json analyze_model(const Model& model, const Dataset* data, const AnalyzeOptions& opts,
                             const Dataset* training_images) {
  nlohmann::json r;
  r["format"] = "dalenet-analysis";
  r["version"] = 2;
  r["rule"] = model.info.value("rule", "unknown");
  r["quantity"] = to_string(WeightQuantity::strength);
  r["silence_threshold"] = opts.silence_threshold;
  std::vector<std::uint8_t> active;
  if (training_images != nullptr) {
    if (training_images->dim() != model.net.input_size())
      throw InputError(training_images->name + ": image size does not match the network input");
    const std::vector<double> on = input_on_fraction(*training_images, opts.input_on_level);
    for (double f : on) active.push_back(f >= opts.active_input_min_fraction ? 1 : 0);
    std::int64_t count = 0;
    for (auto a : active) count += a;
    r["active_inputs"] = {{"images", training_images->name},
                          {"on_level", opts.input_on_level},
                          {"min_fraction", opts.active_input_min_fraction},
                          {"active", count},
                          {"inputs", active.size()}};
  }
  r["projections"] = analyze_weights(model.net, opts, WeightQuantity::strength, active);
  r["latent"] = {{"silence_threshold", opts.latent_silence_threshold},
                 {"projections", analyze_weights(model.net, opts, WeightQuantity::latent, active)}};
  if (model.info.contains("counters")) r["counters"] = model.info["counters"];
  if (model.info.contains("config")) {
    try {
      const TrainConfig cfg = config_from_info(model.info["config"]);
      const Network init =
          make_initial_network(cfg, model.net.input_size(), model.net.output_size(), *make_rule(cfg.rule));
      // Structural masks are a training outcome, not part of the initial state.
      r["initial"] = analyze_weights(init, opts, WeightQuantity::strength, active);
      r["latent"]["initial"] = analyze_weights(init, opts, WeightQuantity::latent, active);
    } catch (const Error& e) {
      r["initial_error"] = e.what();
    }
  }
  if (data != nullptr) r["activity"] = analyze_activity(model.net, *data, opts);
  return r;
}

namespace {

std::string distribution_line(const nlohmann::json& d) {
  if (!d.contains("fits")) return fmt::format("n={} (no fit)", d["n"].get<std::int64_t>());
  std::string s = fmt::format("n={} ln mean {:.3f} sd {:.3f} skew {:.3f}; KS", d["n"].get<std::int64_t>(),
                              d["log_mean"].get<double>(), d["log_sd"].get<double>(), d["log_skewness"].get<double>());
  for (const char* f : {"lognormal", "normal", "gamma", "exponential"})
    if (d["fits"].contains(f) && d["fits"][f].contains("ks"))
      s += fmt::format(" {} {:.3f}", f, d["fits"][f]["ks"].get<double>());
  if (d.contains("lognormal_preferred_p01"))
    s +=
        d["lognormal_preferred_p01"].get<bool>() ? "; lognormal preferred (Vuong p<0.01)" : "; lognormal NOT preferred";
  if (d.contains("absolute_fit")) {
    const auto& a = d["absolute_fit"];
    s += fmt::format("; absolute (AD, n={}): p={:.3f}, {}", a["n"].get<std::int64_t>(), a["p_value"].get<double>(),
                     a["rejected"].get<bool>() ? "lognormal REJECTED" : "not rejected");
  }
  return s;
}

void projection_summary(std::ostringstream& os, const nlohmann::json& p, const nlohmann::json* initial,
                        const char* what) {
  os << fmt::format("projection {} ({} -> {}, {} efficacy):\n", p["projection"].get<int>(), p["pre"].get<std::string>(),
                    p["post"].get<std::string>(), p.value("efficacy", std::string("?")));
  const auto& sp = p["sparsity"];
  os << fmt::format("  sparsity: silent {:.1f}%  ({} non-silent of {}; in-degree mean {:.1f})",
                    100.0 * sp["silent_fraction"].get<double>(), sp["non_silent"].get<std::int64_t>(),
                    p["synapses"].get<std::int64_t>(), sp["in_degree"]["mean"].get<double>());
  if (sp.contains("silent_fraction_active_inputs"))
    os << fmt::format("; over the {} active inputs: {:.1f}%", sp["active_inputs"].get<std::int64_t>(),
                      100.0 * sp["silent_fraction_active_inputs"].get<double>());
  os << "\n";
  if (sp.contains("silent_fraction_in_fields")) {
    os << fmt::format("  inside the receptive fields ({} potential synapses): silent {:.1f}%",
                      sp["receptive_field_synapses"].get<std::int64_t>(),
                      100.0 * sp["silent_fraction_in_fields"].get<double>());
    if (sp.contains("silent_fraction_in_fields_active_inputs"))
      os << fmt::format("; from the active inputs: {:.1f}%",
                        100.0 * sp["silent_fraction_in_fields_active_inputs"].get<double>());
    os << "\n";
  }
  const auto& dale = p["dale"];
  os << fmt::format(
      "  Dale: compliance {:.1f}%  matches declared type {:.1f}%  violating synapses {}  realised E/I/mixed {}/{}/{}\n",
      100.0 * dale["compliance"].get<double>(), 100.0 * dale["matches_declared_type"].get<double>(),
      dale["violating_synapses"].get<std::int64_t>(), dale["realised"]["excitatory"].get<std::int64_t>(),
      dale["realised"]["inhibitory"].get<std::int64_t>(), dale["realised"]["mixed"].get<std::int64_t>());
  if (dale.contains("majority_sign_fraction")) {
    os << fmt::format("  majority-sign fraction {:.3f}", dale["majority_sign_fraction"].get<double>());
    if (initial != nullptr && (*initial)["dale"].contains("majority_sign_fraction"))
      os << fmt::format(" (initial weights {:.3f}, compliance {:.1f}%)",
                        (*initial)["dale"]["majority_sign_fraction"].get<double>(),
                        100.0 * (*initial)["dale"]["compliance"].get<double>());
    os << "\n";
  }
  for (const char* sign : {"positive", "negative"}) {
    os << fmt::format("  {} of {} synapses: {}\n", what, sign, distribution_line(p["distribution"][sign]));
    if (initial != nullptr)
      os << fmt::format("    initial control: {}\n", distribution_line((*initial)["distribution"][sign]));
  }
}

}  // namespace

std::string analyze_summary(const nlohmann::json& rep) {
  std::ostringstream os;
  os << fmt::format("rule: {}   measured on the strength the forward pass uses; silent: strength {}\n",
                    rep["rule"].get<std::string>(),
                    rep["silence_threshold"].get<double>() > 0.0
                        ? fmt::format("below {} x the postsynaptic neuron's largest |strength|",
                                      rep["silence_threshold"].get<double>())
                        : std::string("exactly 0"));
  if (rep.contains("active_inputs"))
    os << fmt::format(
        "active inputs: {} of {} (on, value >= {}, in >= {:.0f}% of {})\n",
        rep["active_inputs"]["active"].get<std::int64_t>(), rep["active_inputs"]["inputs"].get<std::int64_t>(),
        rep["active_inputs"]["on_level"].get<double>(), 100.0 * rep["active_inputs"]["min_fraction"].get<double>(),
        rep["active_inputs"]["images"].get<std::string>());
  if (rep.contains("counters"))
    os << fmt::format("training: {} sign flips, {} clip events\n", rep["counters"]["sign_flips"].get<std::int64_t>(),
                      rep["counters"]["clip_events"].get<std::int64_t>());
  for (std::size_t k = 0; k < rep["projections"].size(); ++k)
    projection_summary(os, rep["projections"][k], rep.contains("initial") ? &rep["initial"][k] : nullptr, "|strength|");
  if (rep.contains("latent")) {
    os << fmt::format("latent (stored) weights, NOT what the network uses; silent below {} x the neuron's max |w|:\n",
                      rep["latent"]["silence_threshold"].get<double>());
    for (const auto& p : rep["latent"]["projections"])
      os << fmt::format("  projection {}: silent {:.1f}%\n", p["projection"].get<int>(),
                        100.0 * p["sparsity"]["silent_fraction"].get<double>());
  }
  if (rep.contains("activity"))
    for (const auto& a : rep["activity"])
      os << fmt::format(
          "activity of {} ({} examples): population sparseness {:.3f}, lifetime {:.3f}, Gini {:.3f}, "
          "fraction active {:.3f}, never-active units {}\n",
          a["layer"].get<std::string>(), a["examples"].get<std::int64_t>(), a["population_sparseness"].get<double>(),
          a["lifetime_sparseness"].get<double>(), a["gini"].get<double>(), a["fraction_active"].get<double>(),
          a["never_active_units"].get<std::int64_t>());
  return os.str();
}

}  // namespace dalenet
