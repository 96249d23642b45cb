// The verdict rules of include/dalenet/verdict.hpp (docs/EVALUATION.md, "Verdicts").
#include "dalenet/verdict.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <map>
#include <numeric>

#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>

#include "dalenet/error.hpp"
#include "dalenet/stats.hpp"

namespace dalenet {
namespace {

// analysis[key][k] ("projections", "initial": the audit's list per projection; 0 is input -> hidden),
// or an InputError naming what is missing.
const nlohmann::json& projection(const nlohmann::json& analysis, const char* key, std::size_t k = 0) {
  if (!analysis.contains(key) || !analysis[key].is_array() || analysis[key].size() <= k)
    throw InputError(fmt::format("verdict: the analysis document has no projection {} in '{}'", k, key));
  return analysis[key][k];
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

double Difference::p_value() const {
  if (!(ci95 > 0.0) || !std::isfinite(ci95) || !std::isfinite(mean)) return 1.0;
  if (dof > 0.0) {
    const boost::math::students_t_distribution<double> t(dof);
    const double se = ci95 / boost::math::quantile(t, 0.975);
    return 2.0 * boost::math::cdf(boost::math::complement(t, std::abs(mean) / se));
  }
  const boost::math::normal_distribution<double> z;
  const double se = ci95 / boost::math::quantile(z, 0.975);
  return 2.0 * boost::math::cdf(boost::math::complement(z, std::abs(mean) / se));
}

std::vector<int> holm_signs(const std::vector<Difference>& comparisons, double alpha) {
  const std::size_t m = comparisons.size();
  std::vector<std::size_t> order(m);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::vector<double> p(m);
  for (std::size_t i = 0; i < m; ++i) p[i] = comparisons[i].p_value();
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] < p[b]; });
  std::vector<int> signs(m, 0);
  for (std::size_t rank = 0; rank < m; ++rank) {
    const std::size_t i = order[rank];
    if (p[i] > alpha / static_cast<double>(m - rank)) break;  // step-down: every larger p is kept too
    signs[i] = comparisons[i].mean > 0.0 ? 1 : -1;
  }
  return signs;
}

ClaimVerdict sparsity_verdict(const nlohmann::json& analysis) {
  ClaimVerdict v{"sparse connectivity emerges", Verdict::not_measured, ""};
  const auto& sp = projection(analysis, "projections").at("sparsity");
  const double all = sp.at("silent_fraction").get<double>();
  if (!sp.contains("silent_fraction_active_inputs")) {
    v.deciding = fmt::format(
        "input→hidden silent fraction {:.3f} over all inputs; no active-input numbers (audit without training "
        "images), which decide",
        all);
    return v;
  }
  // With receptive fields (H6) the synapses outside them are absent by wiring: sparsity imposed
  // by the architecture is not sparsity that emerged, so only those inside count.
  const bool fields = sp.contains("silent_fraction_in_fields_active_inputs");
  const double silent =
      sp.at(fields ? "silent_fraction_in_fields_active_inputs" : "silent_fraction_active_inputs").get<double>();
  v.verdict = silent >= 0.8 ? Verdict::reproduced : silent >= 0.5 ? Verdict::partly : Verdict::not_reproduced;
  std::string latent;
  if (analysis.contains("latent") && analysis["latent"].contains("projections"))
    latent = fmt::format("; latent ŵ (not what the network uses): {:.3f}",
                         analysis["latent"]["projections"].at(0).at("sparsity").at("silent_fraction").get<double>());
  v.deciding = fmt::format(
      "input→hidden synapses with strength exactly 0: {:.3f} of those from the {} active inputs{} (decides; ≥ 0.8 "
      "reproduced, ≥ 0.5 partly), {:.3f} of all{}",
      silent, sp.at("active_inputs").get<std::int64_t>(),
      fields ? " inside the receptive fields (the potential synapses)" : "", all, latent);
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
  const auto& learned = projection(analysis, "projections").at("distribution").at("positive");
  if (!learned.contains("absolute_fit")) {
    v.deciding = "no absolute goodness-of-fit test in the analysis document (it decides with the relative tests)";
    return v;
  }
  const auto& absolute = learned["absolute_fit"];
  const bool rejected = absolute.at("rejected").get<bool>();
  const int n_learned = preferred(learned, learned_over);
  const int n_initial = analysis.contains("initial") && analysis["initial"].is_array() && !analysis["initial"].empty()
                            ? preferred(analysis["initial"][0].at("distribution").at("positive"), initial_over)
                            : -1;
  const bool control_ok = n_initial >= 0 && n_initial < static_cast<int>(families.size());
  // An absolute rejection decides alone; otherwise the relative tests and the control grade it.
  if (!rejected && n_learned == static_cast<int>(families.size()) && control_ok) {
    v.verdict = Verdict::reproduced;
  } else if (!rejected && n_learned > 0) {
    v.verdict = Verdict::partly;
  } else {
    v.verdict = Verdict::not_reproduced;
  }
  v.deciding = fmt::format(
      "non-zero input→hidden strengths: absolute test (Anderson–Darling on ln strength, n = {}) p = {:.3f}, "
      "{} at level {}; lognormal preferred (Vuong p < 0.01) over {} of 3 ({}); skewness of ln strength {:.2f}; "
      "initial strengths: {}",
      absolute.at("n").get<std::int64_t>(), absolute.at("p_value").get<double>(),
      rejected ? "rejected" : "not rejected", absolute.at("level").get<double>(), n_learned,
      learned_over.empty() ? "none" : join(learned_over, ", "), learned.value("log_skewness", std::nan("")),
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
  std::vector<std::string> per_projection;
  for (std::size_t k = 0; k < analysis["projections"].size(); ++k) {
    const auto& p = analysis["projections"][k];
    const double c = p.at("dale").at("compliance").get<double>();
    min_compliance = std::min(min_compliance, c);
    violating += p.at("dale").at("violating_synapses").get<std::int64_t>();
    per_projection.push_back(
        fmt::format("{} {:.4f}{}", k == 0 ? "input→hidden" : fmt::format("projection {}", k), c,
                    k == 0 && !mixed_sign_start ? " (sensory inputs are excitatory by construction)" : ""));
  }
  const auto flips = analysis.contains("counters") ? analysis["counters"].value("sign_flips", std::int64_t{0}) : 0;
  const bool holds = min_compliance >= 1.0 && flips == 0;
  if (mixed_sign_start) {
    v.verdict = holds ? Verdict::reproduced : min_compliance >= 0.9 ? Verdict::partly : Verdict::not_reproduced;
  } else {
    v.verdict = holds ? Verdict::partly : Verdict::not_reproduced;
  }
  v.deciding = fmt::format("compliance {}; {} violating synapses, {} sign flips; {}", join(per_projection, ", "),
                           violating, flips,
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

namespace {

// Holm-significant wins and losses of bio in `diffs` (one family), as labelled texts.
struct Tally {
  std::vector<std::string> better, worse;
  std::size_t total = 0;
  // A majority significantly better and none significantly worse.
  bool supports() const { return total > 0 && 2 * better.size() > total && worse.empty(); }
  std::string text(const std::string& what) const {
    return fmt::format("bio significantly better than {} in {} of {}{}, worse in {}{}", what, better.size(), total,
                       better.empty() ? "" : " (" + join(better, "; ") + " pp)", worse.size(),
                       worse.empty() ? "" : " (" + join(worse, "; ") + " pp)");
  }
};

Tally tally(const std::vector<Difference>& diffs, const std::vector<int>& signs, std::size_t from) {
  Tally t;
  t.total = diffs.size();
  for (std::size_t i = 0; i < diffs.size(); ++i) {
    if (signs[from + i] > 0) t.better.push_back(diff_text(diffs[i]));
    if (signs[from + i] < 0) t.worse.push_back(diff_text(diffs[i]));
  }
  return t;
}

// One data set's tally in the robustness verdict, from its place `at` in the family's signs
// (advanced past it), with the text of every difference, significant or not.
Tally tally_eps(const std::vector<Difference>& diffs, const std::vector<int>& signs, std::size_t& at,
                std::string& all_text) {
  Tally t = tally(diffs, signs, at);
  std::vector<std::string> text;
  for (const auto& d : diffs) text.push_back(diff_text(d));
  all_text = join(text, "; ");
  at += diffs.size();
  return t;
}

const RobustnessControl& robustness_control(const std::string& arm) {
  for (const auto& c : kRobustnessControls)
    if (arm == c.arm) return c;
  throw InputError("robustness_verdict: '" + arm + "' is not a control of kRobustnessControls");
}

// The attribution family: which controls bio beats on every data set, which it does not (with
// where), which were not run; and the text of each comparison.
struct Attribution {
  std::vector<std::string> not_beaten, not_run, parts;
  std::size_t comparisons = 0;
};
Attribution attribute(const std::vector<RobustnessEvidence>& per_dataset) {
  Attribution a;
  std::vector<Difference> family;
  for (const auto& e : per_dataset)
    for (const auto& [arm, diffs] : e.versus_controls) family.insert(family.end(), diffs.begin(), diffs.end());
  a.comparisons = family.size();
  const std::vector<int> signs = holm_signs(family);
  std::size_t at = 0;
  std::map<std::string, std::vector<std::string>> lost_on;  // control -> data sets where bio did not beat it
  std::map<std::string, int> run_on;
  for (const auto& e : per_dataset)
    for (const auto& [arm, diffs] : e.versus_controls) {
      robustness_control(arm);
      std::string text;
      const Tally t = tally_eps(diffs, signs, at, text);
      ++run_on[arm];
      if (!t.supports()) lost_on[arm].push_back(e.dataset);
      a.parts.push_back(fmt::format("{} bio − {}: more robust at {} of {} eps, less at {} ({} pp)", e.dataset, arm,
                                    t.better.size(), t.total, t.worse.size(), text));
    }
  for (const auto& c : kRobustnessControls) {
    if (run_on[c.arm] < static_cast<int>(per_dataset.size()))
      a.not_run.push_back(fmt::format("{} ({})", c.arm, c.what));
    else if (!lost_on[c.arm].empty())
      a.not_beaten.push_back(fmt::format("{} ({}) on {}", c.arm, c.what, join(lost_on[c.arm], ", ")));
  }
  return a;
}

}  // namespace

ClaimVerdict robustness_verdict(const std::vector<RobustnessEvidence>& per_dataset) {
  ClaimVerdict v{"more robust to adversarial attacks, because of the rule", Verdict::not_measured, ""};
  if (per_dataset.empty()) return v;
  std::vector<Difference> claim_family;  // Holm runs over every comparison with BP
  for (const auto& e : per_dataset) claim_family.insert(claim_family.end(), e.versus_bp.begin(), e.versus_bp.end());
  const std::vector<int> signs = holm_signs(claim_family);
  int supporting = 0;
  std::size_t at = 0;
  std::vector<std::string> parts;
  for (const auto& e : per_dataset) {
    std::string text;
    const Tally t = tally_eps(e.versus_bp, signs, at, text);
    supporting += t.supports() ? 1 : 0;
    parts.push_back(fmt::format("{}: bio more robust than bp at {} of {} eps, less at {} ({} pp){}", e.dataset,
                                t.better.size(), t.total, t.worse.size(), text,
                                t.supports() ? " — supports" : " — does not support"));
  }
  const Attribution a = attribute(per_dataset);
  const bool claim_holds = supporting == static_cast<int>(per_dataset.size());
  const bool attributed = a.not_run.empty() && a.not_beaten.empty();
  v.verdict = supporting == 0             ? Verdict::not_reproduced
              : claim_holds && attributed ? Verdict::reproduced
                                          : Verdict::partly;
  std::string attribution;
  if (supporting > 0 && attributed) {
    attribution = " Attributed to the rule: bio is more robust than every control that shares its forward pass.";
  } else if (supporting > 0) {
    std::vector<std::string> why;
    if (!a.not_beaten.empty())
      why.push_back("bio is not more robust than " + join(a.not_beaten, ", nor than ") + "; " +
                    (a.not_beaten.size() == 1 ? "its robustness there is due to what this control shares with it"
                                              : "its robustness there is due to what these controls share with it"));
    if (!a.not_run.empty()) why.push_back("control not run: " + join(a.not_run, "; "));
    attribution = " Not attributed to the rule: " + join(why, "; ") + ".";
  }
  v.deciding =
      join(parts, ". ") +
      fmt::format(" (Holm over {} comparisons, family-wise α = {}).", claim_family.size(), kFamilyAlpha) + attribution +
      (a.parts.empty() ? ""
                       : fmt::format(" Controls: {} (Holm over {} comparisons).", join(a.parts, ". "), a.comparisons));
  return v;
}

ClaimVerdict fewshot_verdict(const std::vector<EvidenceLine>& lines, const std::vector<Difference>& controls,
                             const std::vector<Difference>& secondary) {
  ClaimVerdict v{"better (few-shot) generalisation", Verdict::not_measured, ""};
  std::vector<Difference> family;  // Holm runs over every primary comparison of every line
  for (const auto& line : lines) family.insert(family.end(), line.primary.begin(), line.primary.end());
  if (family.empty()) return v;
  const std::vector<int> signs = holm_signs(family);
  std::size_t at = 0, measured = 0, supporting = 0;
  std::vector<std::string> parts;
  for (const auto& line : lines) {
    const Tally t = tally(line.primary, signs, at);
    at += line.primary.size();
    if (line.primary.empty()) {
      parts.push_back(line.name + ": not measured");
      continue;
    }
    ++measured;
    supporting += t.supports() ? 1 : 0;
    parts.push_back(fmt::format("{} (decides): {}{}", line.name, t.text("BP"),
                                t.supports() ? " — supports" : " — does not support"));
  }
  v.verdict = supporting == measured ? Verdict::reproduced : supporting > 0 ? Verdict::partly : Verdict::not_reproduced;
  v.deciding = join(parts, ". ") + fmt::format(" (k ≤ {}; Holm over {} comparisons, family-wise α = {})",
                                               kFewShotPrimaryMaxK, family.size(), kFamilyAlpha);
  if (!controls.empty())
    v.deciding += ". Attribution, regime C against the unsupervised controls (Holm over " +
                  std::to_string(controls.size()) + "): " + [&] {
                    const Tally t = tally(controls, holm_signs(controls), 0);
                    return t.text("the controls") +
                           (t.supports() ? " — the rule beats the controls that share all but it"
                                         : " — the rule does not beat the controls that share all but it");
                  }();
  if (!secondary.empty())
    v.deciding += ". Secondary, not deciding (larger k, regime B; Holm over " + std::to_string(secondary.size()) +
                  "): " + tally(secondary, holm_signs(secondary), 0).text("BP");
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

std::string to_string(TargetVerdict v) {
  switch (v) {
    case TargetVerdict::met:
      return "met";
    case TargetVerdict::mean_only:
      return "mean only";
    case TargetVerdict::not_met:
      return "not met";
  }
  return "?";
}

nlohmann::json BioTargets::to_json() const {
  auto number = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
  nlohmann::json j = {{"dataset", dataset},
                      {"excitatory", excitatory},
                      {"seeds", seeds},
                      {"accuracy_mean", number(accuracy_mean)},
                      {"accuracy_ci95", number(accuracy_ci95)},
                      {"lowest_silent_percent", number(lowest_silent_percent)},
                      {"sparsity", to_string(sparsity)},
                      {"lowest_dale_compliance", number(lowest_dale_compliance)},
                      {"sign_flips", sign_flips},
                      {"clip_events", clip_events},
                      {"dale", to_string(dale)},
                      {"lognormal_runs", lognormal_runs},
                      {"lognormal", to_string(lognormal)}};
  if (has_accuracy_target) {
    j["accuracy_target"] = accuracy_target;
    j["target_percent"] = target_percent;
    j["accuracy"] = to_string(accuracy);
  }
  return j;
}

namespace {

// doc[k0][k1]...: the value, or an InputError naming the missing path.
const nlohmann::json& member(const nlohmann::json& doc, std::initializer_list<const char*> path, const char* what) {
  const nlohmann::json* at = &doc;
  std::string walked;
  for (const char* key : path) {
    walked += walked.empty() ? key : std::string(".") + key;
    if (!at->is_object() || !at->contains(key))
      throw InputError(fmt::format("bio_targets: the {} document has no '{}'", what, walked));
    at = &(*at)[key];
  }
  return *at;
}

// The same, checked to be a number (a string for `text`), so a wrong type is named too.
double number_at(const nlohmann::json& doc, std::initializer_list<const char*> path, const char* what) {
  const nlohmann::json& v = member(doc, path, what);
  if (!v.is_number())
    throw InputError(fmt::format("bio_targets: a {} document's '{}' is not a number", what, *(path.end() - 1)));
  return v.get<double>();
}
std::string text_at(const nlohmann::json& doc, std::initializer_list<const char*> path, const char* what) {
  const nlohmann::json& v = member(doc, path, what);
  if (!v.is_string())
    throw InputError(fmt::format("bio_targets: a {} document's '{}' is not a string", what, *(path.end() - 1)));
  return v.get<std::string>();
}

bool flag(const nlohmann::json& j, const char* key, bool otherwise) {
  return j.contains(key) && j[key].is_boolean() ? j[key].get<bool>() : otherwise;
}

// Lognormal preferred (p < 0.01) and not rejected by the absolute test, while the initial
// strengths are not preferred lognormal (the control).
bool lognormal_emerged(const nlohmann::json& analysis) {
  const nlohmann::json& positive =
      member(projection(analysis, "projections", 0), {"distribution", "positive"}, "analysis");
  const bool rejected = positive.contains("absolute_fit") ? flag(positive["absolute_fit"], "rejected", true) : true;
  if (!flag(positive, "lognormal_preferred_p01", false) || rejected || !analysis.contains("initial")) return false;
  const nlohmann::json& initial = member(projection(analysis, "initial", 0), {"distribution", "positive"}, "analysis");
  return !flag(initial, "lognormal_preferred_p01", false);
}

// Issue 3's accuracy target for a data set and N_E; false where it set none.
bool accuracy_target(BioTargets& t) {
  if (t.dataset == "mnist" && t.excitatory == 200) {
    t.accuracy_target = "MNIST ≥ 95.6 % at N_E = 200";
    t.target_percent = 95.6;
  } else if (t.dataset == "mnist" && t.excitatory <= 2000) {
    t.accuracy_target = "MNIST ≥ 97.5 % at N_E ≤ 2000";
    t.target_percent = 97.5;
  } else if (t.dataset == "fashion") {
    t.accuracy_target = "Fashion-MNIST ≥ 85 %";
    t.target_percent = 85.0;
  } else {
    return false;
  }
  return true;
}

}  // namespace

BioTargets bio_targets(const std::vector<nlohmann::json>& results, const std::vector<nlohmann::json>& analyses) {
  if (results.empty() || results.size() != analyses.size())
    throw InputError(
        fmt::format("bio_targets: {} results and {} analysis documents (one of each per seed, at least one)",
                    results.size(), analyses.size()));
  BioTargets t;
  t.dataset = text_at(results[0], {"config", "data", "dataset"}, "results");
  const nlohmann::json& layers = member(results[0], {"config", "network", "hidden"}, "results");
  if (!layers.is_array() || layers.empty() || !layers[0].is_number())
    throw InputError("bio_targets: a results document's 'config.network.hidden' is not a list of sizes");
  const double hidden = layers[0].get<double>();
  const double inhibitory = number_at(results[0], {"config", "network", "inhibitory_fraction"}, "results");
  t.excitatory = std::lround(hidden * (1.0 - inhibitory));
  std::vector<double> accuracy;
  t.lowest_silent_percent = std::numeric_limits<double>::infinity();
  t.lowest_dale_compliance = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < results.size(); ++i) {
    accuracy.push_back(100.0 * number_at(results[i], {"metrics", "test", "accuracy"}, "results"));
    const nlohmann::json& counters = member(results[i], {"metrics", "counters"}, "results");
    t.sign_flips += std::lround(number_at(counters, {"sign_flips"}, "results' counters"));
    t.clip_events += std::lround(number_at(counters, {"clip_events"}, "results' counters"));
    const nlohmann::json& sparsity = member(projection(analyses[i], "projections", 0), {"sparsity"}, "analysis");
    // Without the active-input numbers the fraction is unknown, and the lowest with it.
    const double silent = sparsity.contains("silent_fraction_active_inputs")
                              ? 100.0 * number_at(sparsity, {"silent_fraction_active_inputs"}, "analysis")
                              : std::numeric_limits<double>::quiet_NaN();
    t.lowest_silent_percent = std::isnan(silent) ? silent : std::min(t.lowest_silent_percent, silent);
    for (std::size_t k = 0; k < 2; ++k)
      t.lowest_dale_compliance = std::min(t.lowest_dale_compliance, number_at(projection(analyses[i], "projections", k),
                                                                              {"dale", "compliance"}, "analysis"));
    t.lognormal_runs += lognormal_emerged(analyses[i]) ? 1 : 0;
  }
  const stats::MeanCI acc = stats::mean_ci95(accuracy);
  t.accuracy_mean = acc.mean;
  t.accuracy_ci95 = acc.half_width;
  t.seeds = acc.n;
  t.has_accuracy_target = accuracy_target(t);
  if (t.has_accuracy_target) {
    const double lowest = acc.n > 1 ? acc.mean - acc.half_width : acc.mean;
    t.accuracy = lowest >= t.target_percent     ? TargetVerdict::met
                 : acc.mean >= t.target_percent ? TargetVerdict::mean_only
                                                : TargetVerdict::not_met;
  }
  t.sparsity = t.lowest_silent_percent >= 80.0 ? TargetVerdict::met : TargetVerdict::not_met;
  t.dale = t.lowest_dale_compliance == 1.0 && t.sign_flips == 0 && t.clip_events == 0 ? TargetVerdict::met
                                                                                      : TargetVerdict::not_met;
  t.lognormal = t.lognormal_runs == results.size() ? TargetVerdict::met : TargetVerdict::not_met;
  return t;
}

}  // namespace dalenet
