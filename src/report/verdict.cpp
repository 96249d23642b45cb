// The verdict rules of include/dalenet/verdict.hpp (docs/EVALUATION.md, "Verdicts").
#include "dalenet/verdict.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "dalenet/error.hpp"

namespace dalenet {
namespace {

const nlohmann::json& input_projection(const nlohmann::json& analysis, const char* key) {
  if (!analysis.contains(key) || !analysis[key].is_array() || analysis[key].empty())
    throw InputError(std::string("verdict: the analysis document has no '") + key + "' projections");
  return analysis[key][0];
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

std::string diff_text(const Difference& d) {
  return fmt::format("{} {:+.1f} ± {:.1f}", d.label, 100.0 * d.mean, 100.0 * d.ci95);
}

}  // namespace

std::string to_string(Verdict v) {
  switch (v) {
    case Verdict::reproduced:
      return "reproduced";
    case Verdict::partly:
      return "partly";
    case Verdict::not_reproduced:
      return "not reproduced";
    case Verdict::not_measured:
      return "not measured";
  }
  return "?";
}

nlohmann::json ClaimVerdict::to_json() const {
  return {{"claim", claim}, {"verdict", to_string(verdict)}, {"deciding", deciding}};
}

int Difference::sign() const {
  if (mean - ci95 > 0.0) return 1;
  if (mean + ci95 < 0.0) return -1;
  return 0;
}

ClaimVerdict sparsity_verdict(const nlohmann::json& analysis) {
  ClaimVerdict v{"sparse connectivity emerges", Verdict::not_measured, ""};
  const auto& sp = input_projection(analysis, "projections").at("sparsity");
  const double silent = sp.at("silent_fraction").get<double>();
  v.verdict = silent >= 0.8 ? Verdict::reproduced : silent >= 0.5 ? Verdict::partly : Verdict::not_reproduced;
  v.deciding = fmt::format("input→hidden silent fraction {:.3f} at threshold {} (≥ 0.8 reproduced, ≥ 0.5 partly)",
                           silent, sp.at("threshold").get<double>());
  return v;
}

ClaimVerdict lognormal_verdict(const nlohmann::json& analysis) {
  ClaimVerdict v{"lognormal weight distributions emerge", Verdict::not_measured, ""};
  static const std::vector<std::string> families = {"normal", "gamma", "exponential"};
  auto preferred = [&](const nlohmann::json& dist, std::vector<std::string>& which) {
    if (!dist.contains("vuong_lognormal_vs")) return 0;
    int n = 0;
    for (const auto& f : families) {
      const auto& t = dist["vuong_lognormal_vs"].value(f, nlohmann::json::object());
      if (t.value("preferred", std::string()) == "lognormal" && t.value("p_value", 1.0) < 0.01) {
        ++n;
        which.push_back(f);
      }
    }
    return n;
  };
  std::vector<std::string> learned_over, initial_over;
  const auto& learned = input_projection(analysis, "projections").at("distribution").at("positive");
  const int n_learned = preferred(learned, learned_over);
  const int n_initial = analysis.contains("initial") && analysis["initial"].is_array() && !analysis["initial"].empty()
                            ? preferred(analysis["initial"][0].at("distribution").at("positive"), initial_over)
                            : -1;
  const bool control_ok = n_initial >= 0 && n_initial < static_cast<int>(families.size());
  if (n_learned == static_cast<int>(families.size()) && control_ok) {
    v.verdict = Verdict::reproduced;
  } else if (n_learned > 0) {
    v.verdict = Verdict::partly;
  } else {
    v.verdict = Verdict::not_reproduced;
  }
  v.deciding = fmt::format(
      "learned input→hidden weights: lognormal preferred (Vuong p < 0.01) over {} of 3 ({}); initial weights: {}",
      n_learned, learned_over.empty() ? "none" : join(learned_over, ", "),
      n_initial < 0 ? "no control in the document"
                    : fmt::format("over {} of 3{}", n_initial,
                                  control_ok ? " (the control rejects lognormal)" : " (the control is lognormal too)"));
  return v;
}

ClaimVerdict dale_verdict(const nlohmann::json& analysis, bool mixed_sign_start) {
  ClaimVerdict v{"Dale's law emerges", Verdict::not_measured, ""};
  if (!analysis.contains("projections") || !analysis["projections"].is_array() || analysis["projections"].empty())
    throw InputError("verdict: the analysis document has no 'projections'");
  double min_compliance = 1.0;
  std::int64_t violating = 0;
  for (const auto& p : analysis["projections"]) {
    min_compliance = std::min(min_compliance, p.at("dale").at("compliance").get<double>());
    violating += p.at("dale").at("violating_synapses").get<std::int64_t>();
  }
  const auto flips = analysis.contains("counters") ? analysis["counters"].value("sign_flips", std::int64_t{0}) : 0;
  const bool holds = min_compliance >= 1.0 && flips == 0;
  if (mixed_sign_start) {
    v.verdict = holds ? Verdict::reproduced : min_compliance >= 0.9 ? Verdict::partly : Verdict::not_reproduced;
  } else {
    v.verdict = holds ? Verdict::partly : Verdict::not_reproduced;
  }
  v.deciding = fmt::format("lowest compliance over projections {:.4f}, {} violating synapses, {} sign flips; {}",
                           min_compliance, violating, flips,
                           mixed_sign_start ? "from a mixed-sign start (emergent)"
                                            : "from a per-neuron sign start (signs given, not learned)");
  return v;
}

ClaimVerdict dale_verdict(const nlohmann::json& per_neuron_analysis, const nlohmann::json& mixed_analysis) {
  ClaimVerdict mixed = dale_verdict(mixed_analysis, true);
  const ClaimVerdict given = dale_verdict(per_neuron_analysis, false);
  mixed.deciding = fmt::format("mixed-sign start (decides): {}. Per-neuron start: {} — {}", mixed.deciding,
                               to_string(given.verdict), given.deciding);
  return mixed;
}

ClaimVerdict robustness_verdict(const std::vector<std::pair<std::string, std::vector<Difference>>>& per_dataset) {
  ClaimVerdict v{"more robust to adversarial attacks", Verdict::not_measured, ""};
  if (per_dataset.empty()) return v;
  int supporting = 0;
  std::vector<std::string> parts;
  for (const auto& [name, diffs] : per_dataset) {
    int better = 0, worse = 0;
    std::vector<std::string> d;
    for (const auto& x : diffs) {
      better += x.sign() > 0 ? 1 : 0;
      worse += x.sign() < 0 ? 1 : 0;
      d.push_back(diff_text(x));
    }
    const bool supports = !diffs.empty() && 2 * better > static_cast<int>(diffs.size()) && worse == 0;
    supporting += supports ? 1 : 0;
    parts.push_back(fmt::format("{}: bio more robust at {} of {} eps, less at {} ({} pp){}", name, better, diffs.size(),
                                worse, join(d, "; "), supports ? " — supports" : " — does not support"));
  }
  v.verdict = supporting == static_cast<int>(per_dataset.size()) ? Verdict::reproduced
              : supporting > 0                                   ? Verdict::partly
                                                                 : Verdict::not_reproduced;
  v.deciding = join(parts, ". ");
  return v;
}

ClaimVerdict fewshot_verdict(const std::vector<Difference>& comparisons) {
  ClaimVerdict v{"better (few-shot) generalisation", Verdict::not_measured, ""};
  if (comparisons.empty()) return v;
  std::vector<std::string> better;
  int worse = 0;
  for (const auto& c : comparisons) {
    if (c.sign() > 0) better.push_back(diff_text(c));
    worse += c.sign() < 0 ? 1 : 0;
  }
  v.verdict = better.size() == comparisons.size() ? Verdict::reproduced
              : !better.empty()                   ? Verdict::partly
                                                  : Verdict::not_reproduced;
  v.deciding = fmt::format("bio significantly better than BP in {} of {} comparisons{}, worse in {}", better.size(),
                           comparisons.size(), better.empty() ? "" : " (" + join(better, "; ") + " pp)", worse);
  return v;
}

ClaimVerdict representation_verdict(const std::vector<std::pair<std::string, bool>>& markers) {
  ClaimVerdict v{"biologically plausible representations", Verdict::not_measured, ""};
  if (markers.empty()) return v;
  std::vector<std::string> yes, no;
  for (const auto& [name, holds] : markers) (holds ? yes : no).push_back(name);
  v.verdict = no.empty() ? Verdict::reproduced : !yes.empty() ? Verdict::partly : Verdict::not_reproduced;
  v.deciding = fmt::format("holds: {}; does not hold: {}", yes.empty() ? "none" : join(yes, ", "),
                           no.empty() ? "none" : join(no, ", "));
  return v;
}

ClaimVerdict combine_verdicts(const std::vector<std::pair<std::string, ClaimVerdict>>& per_dataset) {
  ClaimVerdict v;
  if (per_dataset.empty()) return v;
  v.claim = per_dataset.front().second.claim;
  auto rank = [](Verdict x) {
    switch (x) {
      case Verdict::reproduced:
        return 0;
      case Verdict::partly:
        return 1;
      case Verdict::not_reproduced:
        return 2;
      case Verdict::not_measured:
        return -1;
    }
    return -1;
  };
  int worst = -1, best = 3;
  std::vector<std::string> parts;
  for (const auto& [name, c] : per_dataset) {
    parts.push_back(name + ": " + to_string(c.verdict) + " — " + c.deciding);
    const int r = rank(c.verdict);
    if (r < 0) continue;
    worst = std::max(worst, r);
    best = std::min(best, r);
  }
  if (worst < 0) {
    v.verdict = Verdict::not_measured;
  } else if (worst == best) {
    v.verdict = worst == 0 ? Verdict::reproduced : worst == 1 ? Verdict::partly : Verdict::not_reproduced;
  } else {
    v.verdict = Verdict::partly;  // holds (at least partly) somewhere, not everywhere
  }
  v.deciding = join(parts, ". ");
  return v;
}

Difference proportion_difference(const std::string& label, double correct_a, double n_a, double correct_b, double n_b) {
  if (!(n_a > 0) || !(n_b > 0)) throw InputError("proportion_difference: " + label + ": no examples");
  const double pa = correct_a / n_a, pb = correct_b / n_b;
  const double se = std::sqrt(pa * (1.0 - pa) / n_a + pb * (1.0 - pb) / n_b);
  return {label, pa - pb, 1.959963984540054 * se};
}

std::vector<std::pair<std::string, bool>> representation_markers(const std::vector<nlohmann::json>& bio,
                                                                 const std::vector<nlohmann::json>& bp,
                                                                 const std::string& prefix) {
  if (bio.empty() || bp.empty()) return {};
  auto mean_of = [](const std::vector<nlohmann::json>& docs, auto get) {
    double s = 0.0;
    int n = 0;
    for (const auto& d : docs) {
      const double x = get(d);
      if (std::isfinite(x)) {
        s += x;
        ++n;
      }
    }
    return n > 0 ? s / n : std::nan("");
  };
  auto number = [](const nlohmann::json& j) { return j.is_number() ? j.get<double>() : std::nan(""); };
  auto active = [&](const nlohmann::json& d) { return number(d.at("activity").at("fraction_active")); };
  auto moran = [&](const nlohmann::json& d) { return number(d.at("receptive_field_morans_i")); };
  auto alpha = [&](const nlohmann::json& d) { return number(d.at("eigenspectrum_alpha")); };
  auto selective = [&](const nlohmann::json& d) { return number(d.at("class_selectivity").at("fraction_above_0_5")); };
  const double act_bio = mean_of(bio, active), act_bp = mean_of(bp, active);
  const double mor_bio = mean_of(bio, moran), mor_bp = mean_of(bp, moran);
  const double alpha_bio = mean_of(bio, alpha), sel_bio = mean_of(bio, selective);
  return {
      {fmt::format("{}sparse activity (fraction active {:.3f} vs BP {:.3f})", prefix, act_bio, act_bp),
       act_bio < act_bp / 2.0},
      {fmt::format("{}structured receptive fields (Moran's I {:.2f} vs BP {:.2f})", prefix, mor_bio, mor_bp),
       mor_bio > mor_bp},
      {fmt::format("{}eigenspectrum alpha near 1 (alpha {:.2f})", prefix, alpha_bio), std::abs(alpha_bio - 1.0) < 0.2},
      {fmt::format("{}feature-like units ({:.0f} % class-selective)", prefix, 100.0 * sel_bio), sel_bio <= 0.5},
  };
}

}  // namespace dalenet
