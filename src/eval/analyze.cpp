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

namespace dalenet {
namespace {

// Silent mask of a projection: true where the synapse is absent or below the relative threshold.
std::vector<std::uint8_t> silent_mask(const Projection& p, double rel) {
  const Eigen::Index R = p.weight.rows(), C = p.weight.cols();
  std::vector<std::uint8_t> silent(static_cast<std::size_t>(R * C));
  for (Eigen::Index i = 0; i < R; ++i) {
    float mx = 0.0F;
    for (Eigen::Index j = 0; j < C; ++j)
      if (!p.has_mask() || p.mask(i, j) != 0) mx = std::max(mx, std::abs(p.weight(i, j)));
    const double cut = rel * mx;
    for (Eigen::Index j = 0; j < C; ++j) {
      const bool absent = p.has_mask() && p.mask(i, j) == 0;
      silent[static_cast<std::size_t>(i * C + j)] = absent || std::abs(p.weight(i, j)) < cut || p.weight(i, j) == 0.0F;
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
DaleCounts count_dale(const Projection& p, const std::vector<std::uint8_t>& silent,
                      const std::vector<std::uint8_t>& col_in, const Eigen::VectorXf& declared) {
  const Eigen::Index R = p.weight.rows(), C = p.weight.cols();
  DaleCounts d;
  for (Eigen::Index jj = 0; jj < C; ++jj) {
    if (!col_in[static_cast<std::size_t>(jj)]) continue;
    ++d.presynaptic;
    d.declared_excitatory += declared(jj) > 0 ? 1 : 0;
    std::int64_t pos = 0, neg = 0;
    for (Eigen::Index i = 0; i < R; ++i) {
      if (silent[static_cast<std::size_t>(i * C + jj)]) continue;
      (p.weight(i, jj) > 0 ? pos : neg)++;
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

nlohmann::json analyze_weights(const Network& net, const AnalyzeOptions& opts) {
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t l = 0; l < net.projections.size(); ++l) {
    const Projection& p = net.projections[l];
    const Eigen::Index R = p.weight.rows(), C = p.weight.cols();
    const auto silent = silent_mask(p, opts.silence_threshold);
    // (silent also marks absent synapses; see row_in/col_in for neurons outside the projection)
    nlohmann::json j;
    j["projection"] = l;
    j["pre"] = net.layers[l].name;
    j["post"] = net.layers[l + 1].name;
    const std::vector<std::uint8_t> row_in = in_projection(net.layers[l + 1]);
    const std::vector<std::uint8_t> col_in = in_projection(net.layers[l]);
    std::int64_t rows_n = 0, cols_n = 0;
    for (auto v : row_in) rows_n += v;
    for (auto v : col_in) cols_n += v;
    const std::int64_t potential = rows_n * cols_n;
    j["synapses"] = potential;
    j["postsynaptic_neurons"] = rows_n;
    // ---- sparsity
    auto silent_count = [&](const std::vector<std::uint8_t>& sm) {
      std::int64_t k = 0;
      for (Eigen::Index i = 0; i < R; ++i)
        if (row_in[static_cast<std::size_t>(i)])
          for (Eigen::Index jj = 0; jj < C; ++jj)
            if (col_in[static_cast<std::size_t>(jj)]) k += sm[static_cast<std::size_t>(i * C + jj)];
      return k;
    };
    const std::int64_t n_silent = silent_count(silent);
    j["sparsity"]["threshold"] = opts.silence_threshold;
    j["sparsity"]["silent_fraction"] = potential ? static_cast<double>(n_silent) / static_cast<double>(potential) : 0.0;
    j["sparsity"]["non_silent"] = potential - n_silent;
    nlohmann::json curve = nlohmann::json::array();
    for (double t : opts.threshold_curve) {
      const std::int64_t k = silent_count(silent_mask(p, t));
      curve.push_back({{"threshold", t},
                       {"silent_fraction", potential ? static_cast<double>(k) / static_cast<double>(potential) : 0.0}});
    }
    j["sparsity"]["curve"] = curve;
    std::vector<double> in_deg, out_deg;
    for (Eigen::Index i = 0; i < R; ++i) {
      if (!row_in[static_cast<std::size_t>(i)]) continue;
      double d = 0;
      for (Eigen::Index jj = 0; jj < C; ++jj)
        d += (col_in[static_cast<std::size_t>(jj)] && !silent[static_cast<std::size_t>(i * C + jj)]) ? 1 : 0;
      in_deg.push_back(d);
    }
    for (Eigen::Index jj = 0; jj < C; ++jj) {
      if (!col_in[static_cast<std::size_t>(jj)]) continue;
      double d = 0;
      for (Eigen::Index i = 0; i < R; ++i)
        d += (row_in[static_cast<std::size_t>(i)] && !silent[static_cast<std::size_t>(i * C + jj)]) ? 1 : 0;
      out_deg.push_back(d);
    }
    auto degree = [](const std::vector<double>& v, double hi) -> nlohmann::json {
      if (v.empty()) return {{"mean", 0}, {"min", 0}, {"max", 0}};
      return {{"mean", stats::mean(v)},
              {"min", *std::min_element(v.begin(), v.end())},
              {"max", *std::max_element(v.begin(), v.end())},
              {"histogram", histogram(v, 0, hi + 1, 10)}};
    };
    j["sparsity"]["in_degree"] = degree(in_deg, static_cast<double>(cols_n));
    j["sparsity"]["out_degree"] = degree(out_deg, static_cast<double>(rows_n));
    // ---- Dale's law (per presynaptic neuron, over its non-silent outgoing synapses)
    const DaleCounts dc = count_dale(p, silent, col_in, net.layers[l].neuron_sign());
    const auto cols_d = static_cast<double>(std::max<std::int64_t>(cols_n, 1));
    j["dale"] = {
        {"presynaptic_neurons", cols_n},
        {"compliance", static_cast<double>(dc.compliant) / cols_d},
        {"matches_declared_type", static_cast<double>(dc.matches_type) / cols_d},
        {"violating_synapses", dc.violating},
        // How far towards Dale's law, graded: the fraction of non-silent synapses that carry their
        // presynaptic neuron's majority sign (1 = compliant; about 0.5 for signs drawn at random).
        {"majority_sign_fraction",
         dc.synapses ? 1.0 - static_cast<double>(dc.violating) / static_cast<double>(dc.synapses) : 1.0},
        {"realised",
         {{"excitatory", dc.only_pos}, {"inhibitory", dc.only_neg}, {"mixed", dc.mixed}, {"no_output", dc.none}}},
        {"declared", {{"excitatory", dc.declared_excitatory}, {"inhibitory", cols_n - dc.declared_excitatory}}}};
    // ---- weight distributions of non-silent |w|, per sign
    std::vector<double> pos_w, neg_w;
    for (Eigen::Index k = 0; k < R * C; ++k) {
      if (silent[static_cast<std::size_t>(k)] || !row_in[static_cast<std::size_t>(k / C)]) continue;
      const double w = p.weight.data()[k];
      (w > 0 ? pos_w : neg_w).push_back(std::abs(w));
    }
    j["distribution"]["positive"] = stats::lognormal_report(pos_w);
    j["distribution"]["negative"] = stats::lognormal_report(neg_w);
    // ln|w| histograms (for the report's weight figure; fixed range so runs can be overlaid).
    auto log_histogram = [](const std::vector<double>& w) {
      std::vector<double> logs;
      logs.reserve(w.size());
      for (double v : w) logs.push_back(std::log(v));
      return histogram(logs, kLogHistogramLo, kLogHistogramHi, kLogHistogramBins);
    };
    j["distribution"]["positive"]["log_histogram"] = log_histogram(pos_w);
    j["distribution"]["negative"]["log_histogram"] = log_histogram(neg_w);
    out.push_back(j);
  }
  return out;
}

nlohmann::json structure_summary(const Network& net, double silence_threshold) {
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t l = 0; l < net.projections.size(); ++l) {
    const Projection& p = net.projections[l];
    const Eigen::Index R = p.weight.rows(), C = p.weight.cols();
    const auto silent = silent_mask(p, silence_threshold);
    const auto row_in = in_projection(net.layers[l + 1]);
    const auto col_in = in_projection(net.layers[l]);
    std::int64_t potential = 0, n_silent = 0;
    for (Eigen::Index i = 0; i < R; ++i)
      for (Eigen::Index jj = 0; jj < C; ++jj)
        if (row_in[static_cast<std::size_t>(i)] && col_in[static_cast<std::size_t>(jj)]) {
          ++potential;
          n_silent += silent[static_cast<std::size_t>(i * C + jj)];
        }
    const DaleCounts dc = count_dale(p, silent, col_in, net.layers[l].neuron_sign());
    out.push_back(
        {{"projection", l},
         {"silent_fraction", potential ? static_cast<double>(n_silent) / static_cast<double>(potential) : 0.0},
         {"dale_compliance",
          dc.presynaptic ? static_cast<double>(dc.compliant) / static_cast<double>(dc.presynaptic) : 1.0}});
  }
  return out;
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

nlohmann::json analyze_model(const Model& model, const Dataset* data, const AnalyzeOptions& opts) {
  nlohmann::json r;
  r["format"] = "dalenet-analysis";
  r["version"] = 1;
  r["rule"] = model.info.value("rule", "unknown");
  r["silence_threshold"] = opts.silence_threshold;
  r["projections"] = analyze_weights(model.net, opts);
  if (model.info.contains("counters")) r["counters"] = model.info["counters"];
  if (model.info.contains("config")) {
    try {
      const TrainConfig cfg = config_from_info(model.info["config"]);
      Network init = make_network(cfg.network_spec(model.net.input_size(), model.net.output_size()));
      Rng rng(static_cast<std::uint64_t>(cfg.loop.seed), /*stream=*/1);  // the trainer's init stream
      init_weights(init, cfg.init_spec(), rng);
      Rng prepare_rng(static_cast<std::uint64_t>(cfg.loop.seed), /*stream=*/4);
      make_rule(cfg.rule)->prepare(init, prepare_rng);
      // Structural masks are a training outcome, not part of the initial state.
      r["initial"] = analyze_weights(init, opts);
    } catch (const Error& e) {
      r["initial_error"] = e.what();
    }
  }
  if (data != nullptr) r["activity"] = analyze_activity(model.net, *data, opts);
  return r;
}

std::string analyze_summary(const nlohmann::json& rep) {
  std::ostringstream os;
  os << fmt::format("rule: {}   silence threshold: {} x the postsynaptic neuron's max |w|\n",
                    rep["rule"].get<std::string>(), rep["silence_threshold"].get<double>());
  if (rep.contains("counters"))
    os << fmt::format("training: {} sign flips, {} clip events\n", rep["counters"]["sign_flips"].get<std::int64_t>(),
                      rep["counters"]["clip_events"].get<std::int64_t>());
  auto dist_line = [](const nlohmann::json& d) -> std::string {
    if (!d.contains("fits")) return fmt::format("n={} (no fit)", d["n"].get<std::int64_t>());
    std::string s =
        fmt::format("n={} ln|w| mean {:.3f} sd {:.3f} skew {:.3f}; KS", d["n"].get<std::int64_t>(),
                    d["log_mean"].get<double>(), d["log_sd"].get<double>(), d["log_skewness"].get<double>());
    for (const char* f : {"lognormal", "normal", "gamma", "exponential"})
      if (d["fits"].contains(f) && d["fits"][f].contains("ks"))
        s += fmt::format(" {} {:.3f}", f, d["fits"][f]["ks"].get<double>());
    if (d.contains("lognormal_preferred_p01"))
      s += d["lognormal_preferred_p01"].get<bool>() ? "; lognormal preferred (Vuong p<0.01)"
                                                    : "; lognormal NOT preferred";
    return s;
  };
  for (std::size_t k = 0; k < rep["projections"].size(); ++k) {
    const auto& p = rep["projections"][k];
    os << fmt::format("projection {} ({} -> {}):\n", p["projection"].get<int>(), p["pre"].get<std::string>(),
                      p["post"].get<std::string>());
    os << fmt::format("  sparsity: silent {:.1f}%  ({} non-silent of {}; in-degree mean {:.1f})\n",
                      100.0 * p["sparsity"]["silent_fraction"].get<double>(),
                      p["sparsity"]["non_silent"].get<std::int64_t>(), p["synapses"].get<std::int64_t>(),
                      p["sparsity"]["in_degree"]["mean"].get<double>());
    os << fmt::format(
        "  Dale: compliance {:.1f}%  matches declared type {:.1f}%  violating synapses {}  realised E/I/mixed "
        "{}/{}/{}\n",
        100.0 * p["dale"]["compliance"].get<double>(), 100.0 * p["dale"]["matches_declared_type"].get<double>(),
        p["dale"]["violating_synapses"].get<std::int64_t>(), p["dale"]["realised"]["excitatory"].get<std::int64_t>(),
        p["dale"]["realised"]["inhibitory"].get<std::int64_t>(), p["dale"]["realised"]["mixed"].get<std::int64_t>());
    if (p["dale"].contains("majority_sign_fraction")) {
      os << fmt::format("  majority-sign fraction {:.3f}", p["dale"]["majority_sign_fraction"].get<double>());
      if (rep.contains("initial") && rep["initial"][k]["dale"].contains("majority_sign_fraction"))
        os << fmt::format(" (initial weights {:.3f}, compliance {:.1f}%)",
                          rep["initial"][k]["dale"]["majority_sign_fraction"].get<double>(),
                          100.0 * rep["initial"][k]["dale"]["compliance"].get<double>());
      os << "\n";
    }
    for (const char* sign : {"positive", "negative"}) {
      os << fmt::format("  |w| of {} weights: {}\n", sign, dist_line(p["distribution"][sign]));
      if (rep.contains("initial"))
        os << fmt::format("    initial control: {}\n", dist_line(rep["initial"][k]["distribution"][sign]));
    }
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
