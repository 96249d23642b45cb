// `dalenet paper`: every claim of the paper tested end to end, as resumable units of work,
// then one report (results.json, summary.md, index.html, figures/). docs/EVALUATION.md,
// "The paper run", describes the protocol; docs/FORMATS.md the files.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dalenet {

// A paper config (experiments/paper_<preset>.toml). Paths are relative to the working directory.
struct PaperConfig {
  std::string source;  // the file it was read from
  std::string preset;  // its name, for the report
  std::vector<std::string> datasets = {"mnist", "fashion"};
  std::vector<std::string> arms = {"bio", "bp", "bp_sign", "eg"};  // must contain bio and bp
  std::vector<std::int64_t> seeds = {1};
  std::string config_dir = "experiments";                         // arm configs: <config_dir>/<arm>_<dataset>.toml
  std::vector<std::string> overrides;                             // "section.key=value", every training run
  std::map<std::string, std::vector<std::string>> arm_overrides;  // per arm, after `overrides`
  int threads = 0;                                                // per unit; 0: all cores
  // robustness (every trained model; the same stratified test subset for all)
  std::size_t attack_n = 200;
  std::uint64_t attack_subset_seed = 0;
  int attack_steps = 100, attack_restarts = 5, square_queries = 1000, noise_draws = 10;
  std::vector<std::string> attacks;                // empty: the default ladder
  bool attack_per_attack_full = false;             // the exhaustive schedule (AttackSchedule)
  std::map<std::string, std::vector<double>> eps;  // per dataset; missing: the default grid
  // few-shot (regime A always; regime B when novel)
  bool fewshot = true;
  std::vector<std::string> fewshot_arms = {"bio", "bp", "ncm"};  // ncm / knn: pixel references
  std::vector<int> shots = {1, 5, 10, 50};
  int draws = 3;
  int min_updates = 100;
  std::size_t fewshot_test_limit = 0;
  std::vector<std::string> fewshot_overrides;  // every few-shot training run
  bool novel = false;
  bool fewshot_unlabelled = false;  // regime C (needs the arms bio and bp)
  int ae_epochs = 5;                // regime C's autoencoder pre-training
  std::vector<int> budgets = {1};   // regime A budgets (FewShotOptions::budgets)
  int selection_draws = 2;
  std::vector<int> novel_shots = {1, 5};
  int episodes = 600;
  std::vector<std::uint64_t> novel_seeds = {1, 2, 3};
  // audit and representations (every trained model, on the test set)
  std::size_t analyze_limit = 2000;
  std::size_t represent_limit = 2000;
};

PaperConfig load_paper_config(const std::string& path);     // throws ConfigError naming file and key
std::string preset_config_path(const std::string& preset);  // "quick" -> experiments/paper_quick.toml
std::string default_paper_out(const PaperConfig& cfg);      // runs/paper-<preset>

// One unit of work. Its outputs live in <out>/units/<id>/; the unit is finished when
// <out>/units/<id>/done.json exists (written atomically, last).
// What a unit does. In plan.json, done.json and estimate.json it is written by name ("train",
// "fewshot", "audit", "attack"): the table below is the one list of the names.
enum class PaperUnitKind { train, fewshot, audit, attack };
NLOHMANN_JSON_SERIALIZE_ENUM(PaperUnitKind, {{PaperUnitKind::train, "train"},
                                             {PaperUnitKind::fewshot, "fewshot"},
                                             {PaperUnitKind::audit, "audit"},
                                             {PaperUnitKind::attack, "attack"}})
// The kind's name, from that table.
std::string paper_unit_kind_name(PaperUnitKind kind);

struct PaperUnit {
  std::string id;  // e.g. "train-bio_mnist-seed1"
  PaperUnitKind kind = PaperUnitKind::train;
  int stage = 0;  // units of a stage depend only on units of earlier stages
  std::string arm, dataset;
  std::int64_t seed = 0;
};
std::vector<PaperUnit> plan_paper(const PaperConfig& cfg);

// How the units of a stage are shared out between processes. The default is one process.
class PaperComm {
 public:
  virtual ~PaperComm() = default;
  virtual int rank() const { return 0; }
  virtual int size() const { return 1; }
  // After every process has run its share of `ids`: leave each process with the finished
  // folders of all of them (units_root/<id>/...), whichever process made them.
  virtual void share(const std::string& units_root, const std::vector<std::string>& ids,
                     const std::vector<int>& owner) {
    (void)units_root, (void)ids, (void)owner;
  }
  virtual void barrier() {}
  virtual void fail() {}  // a unit failed on this process: stop every process (MPI_Abort)
};
// The MPI communicator (MPI_COMM_WORLD) when the build has MPI and the process was started by an
// MPI launcher (mpirun), else nullptr. Initialises MPI; the object finalises it.
std::unique_ptr<PaperComm> make_mpi_comm(int* argc, char*** argv);
bool have_mpi();  // built with MPI

// One local worker process of a paper run (workers > 1, without MPI): it runs the units of
// `stage` that fall to `index` of `workers` (run_paper with only_worker = index, only_stage =
// stage), from the config file at config_path, into out_dir, with `threads` threads.
struct PaperWorkerTask {
  std::string config_path, out_dir, data_dir;
  int workers = 1, index = 0, stage = 0, threads = 0;
};
// Starts one process per task, waits for all of them and returns how many failed. The front end
// supplies it (the CLI starts its own binary, Python `python3 -m dalenet._worker`), so the
// library never starts a front end of its own.
using PaperWorkerLauncher = std::function<int(const std::vector<PaperWorkerTask>&)>;
// Runs every argv (argv[0]: the executable's path) as a process, all at once, and waits for
// all; returns how many failed (a non-zero exit or a signal). IoError naming the executable when
// one cannot be started. What the front ends' launchers are built on.
int run_processes(const std::vector<std::vector<std::string>>& argvs);

struct PaperOptions {
  std::string out_dir = "runs/paper";
  std::string data_dir;                // "" = default_data_dir()
  int workers = 1;                     // local worker processes per stage (no MPI); 1: in this process
  PaperWorkerLauncher launch_workers;  // required when workers > 1
  std::string config_path;             // the config file the workers read (required when workers > 1)
  int only_worker = -1;                // >= 0: run as local worker k of `workers` for `only_stage` only
  int only_stage = -1;
  bool report_only = false;  // rebuild the report from finished units
  // Before the first unit, print estimate_paper's projection (out_dir/estimate.json: calibrated
  // once, reused while the inputs, threads, host and build stay the same).
  bool estimate = true;
  bool estimate_only = false;  // stop after the estimate; run_paper returns {"estimate": its JSON}
  std::string calibrate_from;  // PaperEstimateOptions::calibrate_from
  std::function<void(const std::string&)> progress;
  // Structured progress (`dalenet paper --log-json`): {"event": "estimate"} (total_wall_s, stages),
  // {"event": "stage"} (stage, units, pending), {"event": "unit"} after each unit (id, seconds,
  // estimated_s, stage_pending, stage_eta_s: from the units done, docs/EVALUATION.md).
  std::function<void(const nlohmann::json&)> on_event;
};

// Runs (or resumes) every unit, then writes the report (rank 0). Returns results.json's content
// (empty on ranks other than 0 and for local workers).
nlohmann::json run_paper(const PaperConfig& cfg, const PaperOptions& opt, PaperComm& comm);

// ---- The up-front estimate (docs/EVALUATION.md, "How long a paper run takes") -----------------
// A short calibration on this machine, at the config's thread count, projects what every
// unit and stage will take: each kind of unit is run at a small size and scaled by the quantity
// its cost grows with (training examples, attacked images, audited images, few-shot cells).
struct PaperEstimateOptions {
  std::string out_dir;                 // units already finished here are counted as done
  std::string data_dir;                // "" = default_data_dir()
  std::string calibrate_from;          // a finished paper run's folder: attacks and audits are timed on its
                                       // trained models ("" = on the calibration's own, barely trained ones)
  int processes = 1;                   // processes sharing each stage (local workers or MPI ranks)
  bool same_machine = true;            // the processes share this machine's cores (local workers)
  std::size_t train_examples = 10000;  // training examples timed per arm
  std::size_t attack_images = 0;       // images in the larger attack calibration (0: attack_calibration_images)
  std::function<void(const std::string&)> progress;
};

// The two image counts an attack unit is timed at, {small, large}, for a unit that attacks n
// images in batches of `batch`. Per image, an attack costs more in a full batch than in a small
// one (the activations outgrow the cache), so with trained models the larger count is a full
// batch once n is at least ten batches; below that a tenth of n (at least 50), which keeps the
// calibration near a tenth of the attack stage. Without trained models (the exhaustive schedule)
// it stays at 50. The smaller count is a fifth of the larger. cap > 0 overrides the larger count.
std::pair<std::size_t, std::size_t> attack_calibration_images(std::size_t n, std::size_t batch, bool trained,
                                                              std::size_t cap = 0);

struct UnitEstimate {
  std::string id;
  PaperUnitKind kind = PaperUnitKind::train;
  int stage = 0;
  double seconds = 0.0;          // the projection
  double low = 0.0, high = 0.0;  // its range where a choice is made later (few-shot budgets)
  bool done = false;             // already finished in out_dir: costs nothing
  std::string basis;             // how it was projected, in words
  nlohmann::json measured;       // the calibration's timings it rests on
};

struct PaperEstimate {
  std::vector<UnitEstimate> units;  // in plan order
  int processes = 1, threads = 1, hardware_threads = 1;
  double slowdown = 1.0;  // processes x threads over this machine's cores, when they share it
  double calibration_s = 0.0;
  std::vector<std::string> notes;  // what the projection assumes
  // The wall time of a stage: the slowest process's share (unit_owner's split), pending units only.
  double stage_wall(int stage, bool high = false) const;
  double total_wall(bool high = false) const;
  nlohmann::json to_json() const;
  static PaperEstimate from_json(const nlohmann::json& j);  // throws nlohmann::json::exception
  std::string table() const;                                // per stage and kind, for a terminal
};
PaperEstimate estimate_paper(const PaperConfig& cfg, const PaperEstimateOptions& opt);

// Reads the finished units under out_dir and writes results.json, summary.md, index.html and
// figures/ (gnuplot). Every number in them is computed here from the unit files.
nlohmann::json write_paper_report(const PaperConfig& cfg, const std::string& out_dir, const nlohmann::json& run_info);

}  // namespace dalenet
