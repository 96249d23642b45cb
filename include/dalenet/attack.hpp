#pragma once
// Robustness evaluation: white-box, black-box, transfer and noise attacks with per-example
// worst cases and automatic gradient-masking checks (docs/EVALUATION.md, "Robustness").
//
// Threat model: inputs in [0, 1]; an L-inf or L2 ball of radius eps around each clean image;
// the attacker sees the model's true inference function (competition, inhibition, masks and
// all) through `Classifier`, never a learning-rule surrogate. Robust accuracy at eps is the
// fraction of examples that every in-threat attack leaves correctly classified.
#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dalenet/backprop.hpp"
#include "dalenet/network.hpp"

namespace dalenet {

// What an attack may ask of a model. Batches are [input x B], one example per column.
class Classifier {
 public:
  virtual ~Classifier() = default;
  virtual int input_size() const = 0;
  // logits [classes x B]
  virtual void logits(const Eigen::Ref<const Eigen::MatrixXf>& X, Eigen::MatrixXf& out) = 0;
  // Fills `logits` for X, asks `loss` for dL/dlogits [classes x B] (L a sum of per-example
  // losses), and returns dL/dX [input x B] in `grad`.
  using LossGradient = std::function<void(const Eigen::MatrixXf& logits, Eigen::MatrixXf& dlogits)>;
  virtual void input_gradient(const Eigen::Ref<const Eigen::MatrixXf>& X, const LossGradient& loss,
                              Eigen::MatrixXf& logits, Eigen::MatrixXf& grad) = 0;
  // An attack that drops examples from its batch between two input_gradient calls says which
  // columns of the last batch it keeps (ascending). A classifier that keeps state per example
  // compacts it; the default keeps none. Results never depend on this call, only speed does.
  virtual void keep_columns(const std::vector<Eigen::Index>& keep) { (void)keep; }
};

namespace detail {
class ReluIterates;
}

// A Network's own forward pass and its exact reverse-mode input gradient (backprop.hpp). The
// gradient through hard competition (kwta) and rectification is the almost-everywhere exact
// one: the winners' identity is held fixed for the step (the usual straight-through/BPDA
// reading of a piecewise-linear map); the gradient-free attacks cover what that misses.
//
// For a one-hidden-layer ReLU network (input -> ReLU -> identity; the BP baselines), successive
// input_gradient calls on one batch are computed incrementally: the hidden drives, active sets and
// per-example Jacobians are updated for the pixels that moved and the units that changed state
// (src/eval/relu_iterates.hpp). The results are the same function, equal to the dense pass within
// float rounding; an L-inf PGD-100 runs about twice as fast (docs/PERFORMANCE.md). For any
// network, the Square attack evaluates its candidates through the first projection's changed
// window only (src/eval/patch_logits.hpp). `incremental` false takes the full pass for both.
//
// `competition_leak` > 0 makes input_gradient a BPDA surrogate through competition layers
// (BackwardScratch::competition_leak): the logits stay exact, the gradient also reaches the units
// the competition silenced. The pgd_bpda attack uses it; the default is the exact gradient.
class NetworkClassifier final : public Classifier {
 public:
  // The network must not change while the classifier is in use (effective weights are cached).
  explicit NetworkClassifier(const Network& net, bool incremental = true, float competition_leak = 0.0F);
  ~NetworkClassifier() override;
  NetworkClassifier(const NetworkClassifier&) = delete;
  NetworkClassifier& operator=(const NetworkClassifier&) = delete;
  int input_size() const override { return net_.input_size(); }
  void logits(const Eigen::Ref<const Eigen::MatrixXf>& X, Eigen::MatrixXf& out) override;
  void input_gradient(const Eigen::Ref<const Eigen::MatrixXf>& X, const LossGradient& loss, Eigen::MatrixXf& logits,
                      Eigen::MatrixXf& grad) override;
  void keep_columns(const std::vector<Eigen::Index>& keep) override;
  // Whether input_gradient runs incrementally for this network.
  bool incremental() const { return iterates_ != nullptr; }
  // Whether attacks may evaluate inputs that differ in a few pixels incrementally (Square).
  bool incremental_candidates() const { return incremental_candidates_; }
  const Network& network() const { return net_; }

 private:
  const Network& net_;
  bool incremental_candidates_ = true;
  ForwardCache cache_;
  BackwardScratch scratch_;
  Eigen::MatrixXf dlogits_;
  std::unique_ptr<detail::ReluIterates> iterates_;
};

enum class ThreatNorm { linf, l2 };
std::string to_string(ThreatNorm n);
ThreatNorm threat_norm_from_string(const std::string& s);  // throws ConfigError

// Attack names: fgsm, pgd_ce, pgd_margin, square (L-inf only), transfer (needs a source
// model), gaussian, salt_pepper (L-inf only; a corruption outside the threat model, reported
// beside the robust accuracy, never inside it). Whenever a PGD attack runs, a convergence
// check "pgd_check" (PGD-margin, twice the steps, on the survivors) runs after the others.
const std::vector<std::string>& attack_names();
std::vector<std::string> default_attacks(ThreatNorm norm);
// The documented eps grids: "mnist" and "fashion" (by the data set's name), L-inf or L2.
std::vector<double> default_eps_grid(const std::string& dataset, ThreatNorm norm);

// Which examples each attack runs on (docs/EVALUATION.md, "Which examples each attack runs on").
//  carried:    eps from small to large, and at each eps the attacks in order of cost, each on the
//              examples that nothing before it has fooled: an example fooled within eps is fooled
//              within every larger eps, its adversarial example the witness. Per-attack accuracies
//              are cumulative (the worst case over this attack and all before it).
//  exhaustive: every attack on every clean-correct example at every eps (`--per-attack-full`);
//              per-attack accuracies are each attack's own, for ablation tables.
// Both give the same robust accuracy, example by example: see EpsResult.
enum class AttackSchedule { carried, exhaustive };
std::string to_string(AttackSchedule s);
AttackSchedule attack_schedule_from_string(const std::string& s);  // throws ConfigError

// One finished attack at one eps of evaluate_robustness, for progress displays.
struct AttackProgress {
  double eps = 0.0;
  std::string attack;
  std::size_t attacked = 0, newly_fooled = 0;
  double accuracy = 0.0;   // AttackRun::accuracy
  double seconds = 0.0;    // this attack
  double elapsed_s = 0.0;  // since evaluate_robustness began
  // Time left, from work done: each attack's seconds per attacked example at the last eps > 0
  // it ran at, times the examples it will meet at this eps and every later one (carried: those
  // standing now, an upper bound), plus the unbounded check. -1 until every attack has a rate.
  double eta_s = -1.0;
  nlohmann::json to_json() const;
};

struct AttackOptions {
  ThreatNorm norm = ThreatNorm::linf;
  AttackSchedule schedule = AttackSchedule::carried;
  std::vector<double> eps;               // the grid; 0 should be in it (the eps = 0 check)
  std::vector<std::string> attacks;      // empty: default_attacks(norm)
  int steps = 100;                       // PGD iterations per restart
  int restarts = 5;                      // PGD random restarts (worst case kept per example)
  double step_factor = 2.5;              // PGD step size = step_factor * eps / steps
  int square_queries = 5000;             // Square attack iterations (one query each)
  double square_p_init = 0.8;            // initial fraction of pixels in the square
  int noise_draws = 10;                  // random draws per example for gaussian / salt_pepper
  int image_rows = 28, image_cols = 28;  // for the Square attack's windows
  std::size_t batch = 1000;              // examples per forward/backward pass
  std::uint64_t seed = 0;
  bool unbounded_check = true;                             // PGD at the whole input box (eps = 1 L-inf, sqrt(dim) L2)
  double tolerance = 0.005;                                // accuracy differences below this raise no flag
  double unbounded_max_accuracy = 0.01;                    // accuracy allowed under the unbounded attack
  double zero_gradient_max_fraction = 0.01;                // clean points with an all-zero margin gradient
  bool keep_adversarial = false;                           // fill EpsResult::adversarial
  std::function<void(const std::string& line)> progress;   // one line per finished (attack, eps)
  std::function<void(const AttackProgress&)> on_progress;  // the same, as data
};

struct AttackRun {
  std::string attack;
  double eps = 0.0;
  // Examples still correctly classified: under this attack alone (exhaustive schedule), or under
  // this attack and every attack run before it (carried schedule; AttackSchedule).
  std::size_t correct = 0;
  double accuracy = 0.0;     // correct / n
  std::size_t attacked = 0;  // examples it ran on
  double seconds = 0.0;
  std::vector<double> accuracy_by_restart;          // PGD: cumulative worst case after each restart
  double first_restart_half_steps_accuracy = -1.0;  // PGD: restart 1 stopped at steps / 2
  double first_restart_accuracy = -1.0;             // PGD: restart 1 at full steps
  std::size_t newly_fooled = 0;                     // examples it fooled that no attack before it had
  nlohmann::json to_json() const;
};

// Robust accuracy at eps is the per-example worst case over every in-threat attack at every eps'
// <= eps of the grid: an adversarial example within eps' lies within eps. Both schedules compute
// it; they agree example by example because every attack's draws are keyed by the example.
struct EpsResult {
  double eps = 0.0;
  std::size_t robust_correct = 0;
  double robust_accuracy = 0.0;      // per-example worst case (above)
  std::string strongest_attack;      // exhaustive: lowest accuracy at this eps; carried: fooled the most here
  std::vector<std::uint8_t> robust;  // per example: 1 = correct under every in-threat attack
  // Exhaustive schedule only: the worst case over the attacks at this eps alone (-1: not
  // measured). Above robust_accuracy where an attack at a larger eps missed examples a smaller
  // eps had fooled: the robust_accuracy_increases_with_eps flag.
  std::size_t at_eps_correct = 0;
  double at_eps_accuracy = -1.0;
  // Examples not fooled at a smaller eps that a gradient-free, transfer or noise attack in the
  // threat model fooled at this eps and no white-box attack did (the convergence check aside):
  // where gradients are masked. Both schedules count the same examples. Fraction: of n.
  std::size_t black_box_only = 0;
  double black_box_only_fraction = 0.0;
  // [input x n]: per example, the input that fooled the model (at the smallest eps, first attack
  // in run order to do so), or the clean input where none did. Filled only with keep_adversarial.
  Eigen::MatrixXf adversarial;
};

struct Flag {
  std::string name;
  bool raised = false;
  std::string detail;
};

struct RobustnessReport {
  std::size_t n = 0;
  std::size_t clean_correct = 0;
  double clean_accuracy = 0.0;
  std::vector<AttackRun> runs;
  std::vector<EpsResult> by_eps;
  double unbounded_eps = 0.0;
  double unbounded_accuracy = -1.0;            // -1: not run
  double zero_gradient_fraction_margin = 0.0;  // clean correct points with dmargin/dx == 0
  double zero_gradient_fraction_ce = 0.0;      // same for the cross-entropy (softmax saturation)
  std::vector<Flag> flags;
  std::size_t flags_raised() const;
  nlohmann::json to_json() const;  // without per-example vectors and adversarial examples
};

// Runs every attack of `opt` at every eps on the examples X [input x n] with `labels`.
// `transfer_source` (may be null) crafts the transfer attack's examples. Throws InputError on
// non-finite or out-of-range inputs, a bad eps, or an attack that does not fit the norm.
RobustnessReport evaluate_robustness(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                     std::span<const std::uint8_t> labels, const AttackOptions& opt,
                                     Classifier* transfer_source = nullptr);

// The individual attacks, exposed for tests and other tools. Each returns, per column, 1 if the
// model still classifies every input it tried correctly, and writes the fooling input into
// `adv` (same shape as X) where one was found (X's column otherwise).
struct PgdOptions {
  ThreatNorm norm = ThreatNorm::linf;
  double eps = 0.0;
  int steps = 100;
  int restarts = 1;
  double step_factor = 2.5;
  bool margin_loss = false;  // false: cross-entropy
  bool random_start = true;
  std::uint64_t seed = 0;
  std::size_t batch = 1000;
};
struct PgdStats {
  std::vector<double> accuracy_by_restart;
  double first_restart_half_steps_accuracy = 0.0, first_restart_accuracy = 0.0;
};
std::vector<std::uint8_t> pgd_attack(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                     std::span<const std::uint8_t> labels, const PgdOptions& opt, Eigen::MatrixXf& adv,
                                     PgdStats* stats = nullptr);
// Plain PGD without early stopping, returning the last iterate (what transfers best).
Eigen::MatrixXf pgd_final_iterate(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                  std::span<const std::uint8_t> labels, const PgdOptions& opt);
std::vector<std::uint8_t> square_attack(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                        std::span<const std::uint8_t> labels, double eps, int queries, double p_init,
                                        int rows, int cols, std::uint64_t seed, std::size_t batch,
                                        Eigen::MatrixXf& adv);

// Margin of each column: logit of the label minus the largest other logit (< 0: misclassified).
Eigen::VectorXf label_margins(const Eigen::MatrixXf& logits, std::span<const std::uint8_t> labels);

}  // namespace dalenet

// ---- the `dalenet attack` job (shared by the CLI, the Python module and the paper report) ----
namespace dalenet {

struct AttackJob {
  std::vector<std::string> models;  // model files, each attacked on the same examples
  std::string data = "mnist:test";  // data set spec (load_dataset)
  std::string data_dir;             // data cache ("" = default_data_dir())
  std::size_t n = 0;                // stratified subset of this size (0: the whole set)
  std::uint64_t subset_seed = 0;
  std::string transfer_from;  // model file crafting the transfer attack ("" = none)
  std::string save_adv_dir;   // write adversarial examples here as IDX ("" = don't)
  AttackOptions options;      // an empty eps grid means default_eps_grid(data, norm)
};

// Runs the job; returns the results document (docs/FORMATS.md, "Robustness results"): the
// job, the options, the subset's indices and, per model, RobustnessReport::to_json().
nlohmann::json run_attack_job(const AttackJob& job);
// The per model x attack x eps table of a results document, as CSV (one row per attack and
// one "worst_case" row per eps).
std::string robustness_csv(const nlohmann::json& results);
nlohmann::json to_json(const AttackOptions& o);

}  // namespace dalenet
