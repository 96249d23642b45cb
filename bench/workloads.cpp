// dalenet's side of `make bench` (bench/table.py runs it, one workload per process so each
// row's peak memory is its own). Every workload calls the same library functions as the CLI:
//   bp_epoch    784-1000-10 ReLU MLP, Adam, batch 128, MNIST (55 000 images), `--epochs` epochs
//   bio_epoch   the bio rule (experiments/bio_mnist.toml) with N_E = 1000 (hidden 1250), batch 100
//   pgd         PGD-CE, 100 steps, eps 0.1, one random start, no early stop, on the first 1000
//               MNIST test images against a model file (pgd_final_iterate)
//   inference   logits of the 10 000 MNIST test images (evaluate), `--repeats` times
//   pgd_paths   PGD-CE as the attack command runs it (100 steps, `--restarts` restarts, early stop,
//               batches of 1000) on all 10 000 MNIST test images at each of eps 0.05, 0.1, 0.15,
//               once with NetworkClassifier's incremental path and once with its dense path:
//               robust counts, how many examples' verdicts differ, and the times
//   attack_schedule  the whole ladder of `dalenet attack` (PGD-CE and PGD-margin 100 steps x 5
//               restarts, FGSM, transfer from `--source`, Gaussian noise, Square with
//               `--square-queries`, salt-and-pepper, the convergence check) over the MNIST eps grid
//               on a stratified `--n` test images, once with the carried schedule and once with
//               the exhaustive one: both times, robust accuracies and whether the per-example
//               robust masks agree (AttackSchedule, docs/EVALUATION.md)
//   square_paths  the Square attack (`--square-queries`, eps 0.05 and 0.1) on a stratified `--n`
//               test images, once with NetworkClassifier's incremental candidates (PatchLogits)
//               and once without (a full forward pass per query): times and whether the robust
//               examples agree
// Prints one JSON line: {"workload", "seconds": [per epoch or repeat], "flop": per repeat, ...,
// "allocations_per_batch"}: heap allocations per steady-state step of the hot loop (one
// training batch: fill_batch + LearningRule::train_batch; one PGD step: forward + input
// gradient), counted by interposing malloc in this executable.
// Usage: dalenet_workloads WORKLOAD [--config FILE] [--model FILE] [--out DIR] [--epochs N]
//                          [--repeats N] [--threads N] [--dense-iterates] [--restarts N]
//                          [--source FILE] [--n N] [--square-queries N]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dalenet/attack.hpp"
#include "dalenet/config.hpp"
#include "dalenet/data.hpp"
#include "dalenet/error.hpp"
#include "dalenet/eval.hpp"
#include "dalenet/io.hpp"
#include "dalenet/rule.hpp"
#include "dalenet/threads.hpp"
#include "dalenet/train.hpp"

using namespace dalenet;

// Counts heap allocations (glibc: an executable's malloc family overrides libc's; operator new
// and Eigen's aligned allocator both end in malloc).
namespace {
std::atomic<std::uint64_t> g_allocations{0};
}
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* malloc(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t m) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(n, m);
}
void* realloc(void* p, std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
}

namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Multiply-adds of one forward pass per example: sum over projections of post x pre.
double macs_per_example(const Network& net) {
  double m = 0.0;
  for (const auto& p : net.projections) m += static_cast<double>(p.weight.rows() * p.weight.cols());
  return m;
}

// The square_paths workload (above) into r.
void square_paths(const std::string& model_path, std::size_t n, int square_queries, nlohmann::json& r) {
  const Model m = load_model(model_path);
  const Dataset test = load_dataset("mnist:test", default_data_dir());
  const Dataset sub = subset(test, stratified_indices(test, n, 0), "mnist:test");
  Eigen::MatrixXf X;
  fill_batch_range(sub, 0, sub.size(), X);
  bool same = true;
  for (const double eps : {0.05, 0.1}) {
    std::vector<std::uint8_t> robust[2];
    for (const bool incremental : {true, false}) {
      NetworkClassifier model(m.net, incremental);
      Eigen::MatrixXf adv;
      const double t0 = now_s();
      robust[incremental ? 0 : 1] = square_attack(model, X, sub.labels, eps, square_queries, 0.8, 28, 28, 1, 1000, adv);
      const double sec = now_s() - t0;
      r[incremental ? "seconds_incremental" : "seconds_full_pass"].push_back(sec);
      r[incremental ? "robust_incremental" : "robust_full_pass"].push_back(
          std::count(robust[incremental ? 0 : 1].begin(), robust[incremental ? 0 : 1].end(), std::uint8_t{1}));
    }
    same = same && robust[0] == robust[1];
  }
  r["eps"] = {0.05, 0.1};
  r["n"] = sub.size();
  r["same_robust"] = same;
  r["seconds"] = r["seconds_incremental"];
  r["flop"] = 0.0;
}

// The attack_schedule workload (above) into r.
void attack_schedule(const std::string& model_path, const std::string& source_path, std::size_t n, int square_queries,
                     nlohmann::json& r) {
  const Model m = load_model(model_path);
  const Model source = load_model(source_path);
  const Dataset test = load_dataset("mnist:test", default_data_dir());
  const Dataset sub = subset(test, stratified_indices(test, n, 0), "mnist:test");
  Eigen::MatrixXf X;
  fill_batch_range(sub, 0, sub.size(), X);
  AttackOptions o;
  o.eps = default_eps_grid("mnist", ThreatNorm::linf);
  o.attacks = default_attacks(ThreatNorm::linf);
  o.attacks.insert(o.attacks.begin() + 4, "transfer");
  o.square_queries = square_queries;
  std::vector<std::vector<std::uint8_t>> masks[2];
  for (const auto schedule : {AttackSchedule::carried, AttackSchedule::exhaustive}) {
    o.schedule = schedule;
    NetworkClassifier clf(m.net), src(source.net);
    const double t0 = now_s();
    const RobustnessReport rep = evaluate_robustness(clf, X, sub.labels, o, &src);
    const std::string key = to_string(schedule);
    r["seconds_" + key] = now_s() - t0;
    std::size_t attacked = 0;
    for (const auto& run : rep.runs) attacked += run.attacked;
    r["examples_attacked_" + key] = attacked;
    for (const auto& e : rep.by_eps) {
      r["robust_accuracy_" + key].push_back(e.robust_accuracy);
      masks[schedule == AttackSchedule::carried ? 0 : 1].push_back(e.robust);
    }
  }
  r["eps"] = o.eps;
  r["n"] = sub.size();
  r["same_masks"] = masks[0] == masks[1];
  r["seconds"] = {r["seconds_carried"].get<double>()};
  r["flop"] = 0.0;
}

int run(int argc, char** argv) {
  if (argc < 2)
    throw InputError(
        "usage: dalenet_workloads bp_epoch|bio_epoch|pgd|inference|pgd_paths|attack_schedule|square_paths [options]");
  const std::string workload = argv[1];
  std::string config, model_path, out;
  int epochs = 3, repeats = 3, threads = 0;
  bool dense_iterates = false;  // pgd: NetworkClassifier without the incremental ReLU path
  int restarts = 5;             // pgd_paths
  std::string source_path;      // attack_schedule: the transfer source
  std::size_t images = 500;     // attack_schedule: test images
  int square_queries = 5000;    // attack_schedule
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw InputError(a + " needs a value");
      return argv[++i];
    };
    if (a == "--config")
      config = next();
    else if (a == "--model")
      model_path = next();
    else if (a == "--out")
      out = next();
    else if (a == "--epochs")
      epochs = std::stoi(next());
    else if (a == "--repeats")
      repeats = std::stoi(next());
    else if (a == "--threads")
      threads = std::stoi(next());
    else if (a == "--dense-iterates")
      dense_iterates = true;
    else if (a == "--restarts")
      restarts = std::stoi(next());
    else if (a == "--source")
      source_path = next();
    else if (a == "--n")
      images = static_cast<std::size_t>(std::stoul(next()));
    else if (a == "--square-queries")
      square_queries = std::stoi(next());
    else
      throw InputError("unknown option " + a);
  }
  set_threads(threads);
  nlohmann::json r = {{"workload", workload}, {"threads", current_threads()}};
  if (workload == "bp_epoch" || workload == "bio_epoch") {
    std::vector<std::string> sets = {"train.epochs=" + std::to_string(epochs),
                                     "train.threads=" + std::to_string(current_threads())};
    if (workload == "bp_epoch") {
      sets.insert(sets.end(), {"network.hidden=[1000]", "train.batch=128", "train.lr_schedule=constant"});
    } else {
      // Plastic epochs only (the readout phase of bio.readout_epochs is the cheap part: forward + O1),
      // with the output rule learning in them as the PyTorch peer's does (bio_mnist.toml lets it
      // wait for the readout phase, which readout_epochs = 0 would refuse).
      sets.insert(sets.end(), {"network.hidden=[1250]", "train.batch=100", "bio.readout_epochs=0",
                               "bio.output_in_plastic_phase=true"});
    }
    const TrainConfig cfg = load_config(config, sets);
    {  // allocations per steady-state batch of the hot loop, as train() runs it
      const Dataset tr = load_dataset("mnist:train", default_data_dir());
      Network net = make_network(cfg.network_spec(tr.dim(), tr.num_classes));
      Rng rng(1);
      init_weights(net, cfg.init_spec(), rng);
      auto rule = make_rule(cfg.rule);
      rule->prepare(net, rng);
      rule->begin(net);
      const auto B = static_cast<std::size_t>(cfg.loop.batch);
      std::vector<std::uint32_t> idx(B);
      Eigen::MatrixXf X;
      std::vector<std::uint8_t> labels(B);
      auto step = [&](std::size_t k) {
        for (std::size_t i = 0; i < B; ++i) {
          idx[i] = static_cast<std::uint32_t>((k * B + i) % tr.size());
          labels[i] = tr.labels[idx[i]];
        }
        fill_batch(tr, idx, X);
        rule->train_batch(net, X, labels);
      };
      for (std::size_t k = 0; k < 3; ++k) step(k);  // warm-up: buffers reach their sizes
      const std::uint64_t before = g_allocations.load();
      const std::size_t steps = 100;  // includes one structural step of the bio rule
      for (std::size_t k = 3; k < 3 + steps; ++k) step(k);
      r["allocations_per_batch"] = static_cast<double>(g_allocations.load() - before) / static_cast<double>(steps);
    }
    TrainOptions to;
    to.out_dir = out;
    to.overwrite = true;
    const TrainOutcome t = train(cfg, to);
    r["seconds"] = t.results["timings"]["epoch_s"];
    const double n = 55000.0, mac = macs_per_example(t.model.net);
    // bp: forward + weight gradient + input-side gradient of the hidden layer is not needed
    // (the input layer has no parent), so 2 GEMMs for the first projection, 3 for the output.
    r["flop"] = workload == "bp_epoch" ? 2.0 * n * (2.0 * 784.0 * 1000.0 + 3.0 * 1000.0 * 10.0)
                                       : 2.0 * n * 2.0 * mac;  // bio: forward + one Hebbian outer product
    r["test_accuracy"] = t.results["metrics"]["test"]["accuracy"];
  } else if (workload == "pgd_paths") {
    const Model m = load_model(model_path);
    const Dataset test = load_dataset("mnist:test", default_data_dir());
    Eigen::MatrixXf X;
    fill_batch_range(test, 0, test.size(), X);
    nlohmann::json runs = nlohmann::json::array();
    for (const double eps : {0.05, 0.1, 0.15}) {
      PgdOptions p;
      p.eps = eps;
      p.steps = 100;
      p.restarts = restarts;
      p.seed = 1;
      std::vector<std::uint8_t> robust[2];
      double secs[2] = {0.0, 0.0};
      for (int k = 0; k < 2; ++k) {
        NetworkClassifier model(m.net, k == 0);
        Eigen::MatrixXf adv;
        const double t0 = now_s();
        robust[k] = pgd_attack(model, X, test.labels, p, adv);
        secs[k] = now_s() - t0;
      }
      std::size_t differ = 0, count[2] = {0, 0};
      for (std::size_t i = 0; i < robust[0].size(); ++i) {
        differ += robust[0][i] != robust[1][i] ? 1 : 0;
        count[0] += robust[0][i];
        count[1] += robust[1][i];
      }
      runs.push_back({{"eps", eps},
                      {"robust_incremental", count[0]},
                      {"robust_dense", count[1]},
                      {"verdicts_differ", differ},
                      {"seconds_incremental", secs[0]},
                      {"seconds_dense", secs[1]}});
    }
    r["incremental"] = NetworkClassifier(m.net).incremental();
    r["restarts"] = restarts;
    r["runs"] = runs;
    r["model"] = model_path;
  } else if (workload == "pgd" || workload == "inference") {
    const Model m = load_model(model_path);
    const Dataset test = load_dataset("mnist:test", default_data_dir());
    const double mac = macs_per_example(m.net);
    std::vector<double> secs;
    if (workload == "pgd") {
      std::vector<std::uint32_t> idx(1000);
      for (std::uint32_t i = 0; i < 1000; ++i) idx[i] = i;
      const Dataset sub = subset(test, idx, "mnist:test[0:1000]");
      Eigen::MatrixXf X;
      fill_batch_range(sub, 0, sub.size(), X);
      PgdOptions p;
      p.eps = 0.1;
      p.steps = 100;
      p.restarts = 1;
      p.seed = 1;
      Eigen::MatrixXf adv;
      {  // allocations per steady-state PGD step (forward + input gradient)
        NetworkClassifier model(m.net);
        Eigen::MatrixXf logits, grad, dlogits;
        const Classifier::LossGradient loss = [&](const Eigen::MatrixXf& lg, Eigen::MatrixXf& d) {
          softmax_cross_entropy(lg, sub.labels, Reduction::sum, &d);
        };
        // Past the incremental path's one-off start (its Jacobian is built on the 5th call).
        for (int k = 0; k < 20; ++k) model.input_gradient(X, loss, logits, grad);
        const std::uint64_t before = g_allocations.load();
        for (int k = 0; k < 10; ++k) model.input_gradient(X, loss, logits, grad);
        r["allocations_per_batch"] = static_cast<double>(g_allocations.load() - before) / 10.0;
      }
      for (int k = 0; k < repeats; ++k) {
        NetworkClassifier model(m.net, !dense_iterates);
        r["incremental"] = model.incremental();
        const double t0 = now_s();
        adv = pgd_final_iterate(model, X, sub.labels, p);
        secs.push_back(now_s() - t0);
      }
      NetworkClassifier model(m.net);
      Eigen::MatrixXf logits;
      model.logits(adv, logits);
      r["robust_accuracy"] = static_cast<double>(count_correct(logits, sub.labels)) / 1000.0;
      r["flop"] = 100.0 * 1000.0 * 2.0 * 2.0 * mac;  // per step: forward + input gradient
    } else {
      double acc = 0.0;
      for (int k = 0; k < repeats; ++k) {
        const double t0 = now_s();
        acc = evaluate(m.net, test).accuracy;
        secs.push_back(now_s() - t0);
      }
      r["test_accuracy"] = acc;
      r["flop"] = 2.0 * 10000.0 * mac;
    }
    r["seconds"] = secs;
    r["model"] = model_path;
  } else if (workload == "square_paths") {
    square_paths(model_path, images, square_queries, r);
  } else if (workload == "attack_schedule") {
    attack_schedule(model_path, source_path, images, square_queries, r);
  } else {
    throw InputError("unknown workload '" + workload + "'");
  }
  std::cout << r.dump() << "\n";
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dalenet_workloads: %s\n", e.what());
    return 1;
  }
}
