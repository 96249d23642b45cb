#pragma once
// Verdicts on the paper's claims (Inoue, Röhrbein & Knoblauch 2026), decided from measured result
// documents by fixed rules — the verdict table of the report (issue 6) is this code, not prose.
// Each rule is documented in docs/EVALUATION.md ("Verdicts") and tested in tests/test_verdict.cpp.
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace dalenet {

enum class Verdict { reproduced, partly, not_reproduced, not_measured };
std::string to_string(Verdict v);  // "reproduced", "partly", "not reproduced", "not measured"

struct ClaimVerdict {
  std::string claim;  // the paper's claim, in words
  Verdict verdict = Verdict::not_measured;
  std::string deciding;  // the deciding numbers (with CIs where there are any)
  nlohmann::json to_json() const;
};

// A measured difference (bio − reference) with the half-width of its 95 % CI.
struct Difference {
  std::string label;  // what was compared, e.g. "mnist eps=0.1"
  double mean = 0.0;
  double ci95 = 0.0;
  // Degrees of freedom of the CI: 0 for a normal-approximation CI (pooled proportions), n − 1 for a
  // Student-t CI over n seeds or draws.
  double dof = 0.0;
  // +1: significantly positive (mean − ci95 > 0), −1: significantly negative, 0: neither (unadjusted).
  int sign() const;
  // Two-sided p-value of "no difference", recovered from the CI: se = ci95 / q(0.975), where q is the
  // normal or Student-t quantile of the CI; 1 for a CI that is missing or not positive.
  double p_value() const;
};

// The family-wise level of every claim's pre-registered comparisons (docs/EVALUATION.md).
inline constexpr double kFamilyAlpha = 0.05;

// Holm's step-down correction over one claim's comparisons: for each, +1 (significantly positive
// after correction), −1 (significantly negative) or 0, at family-wise level alpha.
std::vector<int> holm_signs(const std::vector<Difference>& comparisons, double alpha = kFamilyAlpha);

// "Sparse connectivity emerges": the functional silent fraction (strength exactly 0) of the bio
// model's input -> hidden synapses from *active* inputs (on in >= 1 % of the training images).
// ≥ 0.8 reproduced, ≥ 0.5 partly, else not; not measured without the active-input numbers.
// analysis: the `dalenet analyze --json` document of a bio model (with training images).
ClaimVerdict sparsity_verdict(const nlohmann::json& analysis);

// "Lognormal weights emerge", on the non-silent positive input -> hidden strengths:
// - rejected by the absolute test (Anderson–Darling, parametric bootstrap, p < its level): not
//   reproduced, whatever the relative tests say;
// - otherwise: lognormal preferred over normal, gamma and exponential (Vuong, p < 0.01) while
//   the initial strengths are not (the control): reproduced; preferred over at least one family,
//   or over all three with a failing control: partly; over none: not reproduced.
ClaimVerdict lognormal_verdict(const nlohmann::json& analysis);

// "Dale's law emerges": every projection's compliance is 1 and no sign flipped. Compliance is
// on the strength (non-zero strengths only); the deciding text gives each projection's own,
// noting that sensory inputs are excitatory by construction (input -> hidden). From a mixed-
// sign start (each synapse's sign random) that is an emergent result: reproduced, partly for
// compliance ≥ 0.9 on every projection, else not. From a per-neuron start the signs were given,
// not learned: at most partly (holds, by construction), not reproduced if it does not hold.
ClaimVerdict dale_verdict(const nlohmann::json& analysis, bool mixed_sign_start);
// One data set with both starts: the bio arm (per-neuron start) and the arm trained from a
// mixed-sign start. The mixed-sign run decides (it tests the claim's strong form); the deciding
// text carries both.
ClaimVerdict dale_verdict(const nlohmann::json& per_neuron_analysis, const nlohmann::json& mixed_analysis);

// The controls that attribute robustness to the rule (docs/EVALUATION.md, "Verdicts"): each
// shares the bio arm's forward pass and differs in how its hidden layer was learned.
struct RobustnessControl {
  const char* arm;   // the paper arm
  const char* what;  // what it isolates, in words
};
inline constexpr RobustnessControl kRobustnessControls[] = {
    {"bp_arch", "the architecture: backprop through the bio forward pass"},
    {"kmeans", "the code form: k-means prototypes in the bio forward pass"},
};

// One data set's robustness evidence: differences of robust accuracy at each eps > 0, paired over
// seeds (or of pooled proportions with < 3 seeds).
struct RobustnessEvidence {
  std::string dataset;
  std::vector<Difference> versus_bp;  // bio − bp
  // bio − each control of kRobustnessControls that was run, by arm name
  std::vector<std::pair<std::string, std::vector<Difference>>> versus_controls;
};

// "More robust to adversarial attacks, because of the rule". Two families, each under Holm over
// every eps of every data set:
// - the claim: per data set, bio − BP. A data set supports it when bio is significantly more
//   robust at a majority of its eps and significantly less robust at none;
// - the attribution: per data set and control of kRobustnessControls, bio − control, beaten by the
//   same majority-and-no-loss rule.
// Reproduced: every data set supports the claim and every control was run and beaten on every
// data set. Partly: some data set supports the claim, but not all, or a control was not run or not
// beaten (the deciding text then names it: the robustness is due to what that control shares with
// the bio arm). Not reproduced: no data set supports the claim.
ClaimVerdict robustness_verdict(const std::vector<RobustnessEvidence>& per_dataset);

// "Better (few-shot) generalisation" (docs/EVALUATION.md, "Verdicts"). Two lines of evidence,
// each a list of paired differences bio − a BP arm at the primary k (k ≤ kFewShotPrimaryMaxK) of
// every data set: regime A (bio − bp, everything trained from the k labels) and regime C (the bio
// rule's own readout on its unlabelled hidden layer − bp and − ae_bp). Holm over every primary
// comparison of every line. A line supports the claim when bio is significantly better in a
// majority of its comparisons and significantly worse in none. Every measured line supports:
// reproduced; some: partly; none: not reproduced; no comparisons: not measured. `secondary`
// (larger k, regime B) and `controls` (bio − the unsupervised controls in regime C, which decide
// whether a win is the rule's) are reported in the deciding text and do not change the verdict.
inline constexpr int kFewShotPrimaryMaxK = 10;
struct EvidenceLine {
  std::string name;                 // "regime A", "regime C"
  std::vector<Difference> primary;  // the comparisons that decide
};
ClaimVerdict fewshot_verdict(const std::vector<EvidenceLine>& lines, const std::vector<Difference>& controls = {},
                             const std::vector<Difference>& secondary = {});

// "Biologically plausible representations": named markers that hold or not (sparse activity,
// structured receptive fields, eigenspectrum alpha near 1, feature-like units, ...). All hold:
// reproduced; some: partly; none: not reproduced.
ClaimVerdict representation_verdict(const std::vector<std::pair<std::string, bool>>& markers);

// One claim judged on several data sets: the weakest verdict of the measured ones (a claim that
// holds on MNIST but not on Fashion-MNIST is "partly"); the deciding numbers of each, labelled.
ClaimVerdict combine_verdicts(const std::vector<std::pair<std::string, ClaimVerdict>>& per_dataset);

// bio - bp of two accuracies, each k correct of n independent examples; the 95 % CI is the
// normal approximation of the unpaired two-proportion difference (conservative for paired data).
Difference proportion_difference(const std::string& label, double correct_a, double n_a, double correct_b, double n_b);

// The four representation markers (docs/EVALUATION.md): sparse activity (bio's fraction of
// active unit-example pairs below half of BP's), structured receptive fields (Moran's I above
// BP's), a V1-like eigenspectrum (|alpha - 1| < 0.2), feature-like units (at most half of the bio
// units class-selective). Inputs: `dalenet represent` documents, one per seed; `prefix` labels.
std::vector<std::pair<std::string, bool>> representation_markers(const std::vector<nlohmann::json>& bio,
                                                                 const std::vector<nlohmann::json>& bp,
                                                                 const std::string& prefix);

// ---- the shipped bio configurations' own targets ---------------------------------------------
// Not claims of the paper: the acceptance bar issue 3 set for the project's bio configurations
// (docs/EVALUATION.md, "The bio configurations' targets"). Each column is met or not; a
// configuration meets the bar only if every column does.
enum class TargetVerdict { met, mean_only, not_met };
std::string to_string(TargetVerdict v);  // "met", "mean only", "not met"

struct BioTargets {
  std::string dataset;
  long excitatory = 0;  // N_E: round(hidden[0] · (1 − inhibitory_fraction))
  bool has_accuracy_target = false;
  std::string accuracy_target;  // in words, e.g. "MNIST ≥ 95.6 % at N_E = 200"
  double target_percent = 0.0;
  // Test accuracy in percent over the seeds (mean, 95 % CI half-width, n; half-width NaN for one).
  double accuracy_mean = 0.0, accuracy_ci95 = 0.0;
  std::size_t seeds = 0;
  // Met if the whole CI (one seed: the value) lies at or above the target; mean only if the mean does.
  TargetVerdict accuracy = TargetVerdict::not_met;
  double lowest_silent_percent = 0.0;               // the sparsity verdict's fraction, lowest seed
  TargetVerdict sparsity = TargetVerdict::not_met;  // lowest ≥ 80 %
  double lowest_dale_compliance = 0.0;              // over seeds and both projections
  long sign_flips = 0, clip_events = 0;             // summed over seeds
  TargetVerdict dale = TargetVerdict::not_met;      // compliance 1, no flips, no clips
  // Runs whose strengths prefer lognormal (p < 0.01) without the absolute test rejecting it, while
  // the initial strengths do not.
  std::size_t lognormal_runs = 0;
  TargetVerdict lognormal = TargetVerdict::not_met;  // every run
  nlohmann::json to_json() const;
};

// One configuration's runs, one per seed: results.json and the `dalenet analyze` document of each
// (same order). Throws InputError for an empty or mismatched list or a document missing a key.
BioTargets bio_targets(const std::vector<nlohmann::json>& results, const std::vector<nlohmann::json>& analyses);

}  // namespace dalenet
