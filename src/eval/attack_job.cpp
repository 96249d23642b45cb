// `dalenet attack`: loads the models and data, draws the stratified subset, runs
// evaluate_robustness for each model and writes adversarial examples as float IDX files.
#include <filesystem>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "dalenet/attack.hpp"
#include "dalenet/data.hpp"
#include "dalenet/error.hpp"
#include "dalenet/io.hpp"
#include "dalenet/version.hpp"
#include "data/sha256.hpp"
#include "eval/attacks/registry.hpp"

namespace dalenet {

nlohmann::json to_json(const AttackOptions& o) {
  return {{"norm", to_string(o.norm)},
          {"schedule", to_string(o.schedule)},
          {"eps", o.eps},
          {"attacks", o.attacks.empty() ? default_attacks(o.norm) : o.attacks},
          {"steps", o.steps},
          {"restarts", o.restarts},
          {"step_factor", o.step_factor},
          {"square_queries", o.square_queries},
          {"square_p_init", o.square_p_init},
          {"noise_draws", o.noise_draws},
          {"batch", o.batch},
          {"seed", o.seed},
          {"unbounded_check", o.unbounded_check},
          {"tolerance", o.tolerance},
          {"unbounded_max_accuracy", o.unbounded_max_accuracy},
          {"zero_gradient_max_fraction", o.zero_gradient_max_fraction}};
}

namespace {
// A short, unique label per model file: the run folder's name for ".../NAME/model.safetensors",
// the file's stem otherwise.
std::vector<std::string> model_labels(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  std::map<std::string, int> seen;
  for (const auto& p : paths) {
    const std::filesystem::path fp(p);
    std::string label = fp.stem().string();
    if (label == "model" && fp.has_parent_path() && !fp.parent_path().filename().empty())
      label = fp.parent_path().filename().string();
    const int k = seen[label]++;
    out.push_back(k == 0 ? label : fmt::format("{}-{}", label, k + 1));
  }
  return out;
}
}  // namespace

nlohmann::json run_attack_job(const AttackJob& job) {
  if (job.models.empty()) throw InputError("attack: no model given");
  const std::string dir = data_dir_or_default(job.data_dir);
  const Dataset full = load_dataset(job.data, dir);
  std::vector<std::uint32_t> idx;
  if (job.n == 0 || job.n >= full.size()) {
    idx.resize(full.size());
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<std::uint32_t>(i);
  } else {
    idx = stratified_indices(full, job.n, job.subset_seed);
  }
  const Dataset d = subset(full, idx, job.data);
  Eigen::MatrixXf X;
  fill_batch_range(d, 0, d.size(), X);

  AttackOptions opt = job.options;
  if (opt.eps.empty()) opt.eps = default_eps_grid(job.data, opt.norm);
  opt.image_rows = d.rows;
  opt.image_cols = d.cols;
  opt.keep_adversarial = !job.save_adv_dir.empty();

  std::optional<Model> source;
  std::optional<NetworkClassifier> source_clf;
  if (!job.transfer_from.empty()) {
    source = load_model(job.transfer_from);
    source_clf.emplace(source->net);
  }

  nlohmann::json out;
  out["format"] = "dalenet-robustness";
  out["format_version"] = 1;
  out["dalenet_version"] = std::string(kVersion);
  out["data"] = job.data;
  out["data_sources"] = nlohmann::json::array();
  for (const auto& s : full.sources) out["data_sources"].push_back({{"path", s.path}, {"sha256", s.sha256}});
  out["n"] = d.size();
  out["subset_seed"] = job.subset_seed;
  out["indices"] = idx;
  out["transfer_from"] = job.transfer_from;
  out["options"] = to_json(opt);
  // The defaults; each model's "attacks" lists what ran on it (AttackInfo::applies).
  if (opt.attacks.empty())
    out["options"]["attacks"] = detail::default_attack_list(opt.norm, !job.transfer_from.empty());
  out["models"] = nlohmann::json::array();

  const auto labels = model_labels(job.models);
  if (!job.save_adv_dir.empty()) {
    std::filesystem::create_directories(job.save_adv_dir);
    write_file_atomic(job.save_adv_dir + "/labels-idx1-ubyte", idx_labels_bytes(d.labels));
  }
  for (std::size_t m = 0; m < job.models.size(); ++m) {
    const Model model = load_model(job.models[m]);
    if (model.net.input_size() != d.dim())
      throw InputError("attack: model '" + job.models[m] + "' expects " + std::to_string(model.net.input_size()) +
                       " inputs, " + job.data + " has " + std::to_string(d.dim()));
    NetworkClassifier clf(model.net);
    if (opt.progress) opt.progress(fmt::format("== {} ({} examples of {})", job.models[m], d.size(), job.data));
    const RobustnessReport rep = evaluate_robustness(clf, X, d.labels, opt, source_clf ? &*source_clf : nullptr);
    nlohmann::json j = rep.to_json();
    j["model"] = job.models[m];
    j["label"] = labels[m];
    j["model_sha256"] = sha256_file(job.models[m]);
    if (model.info.contains("rule")) j["rule"] = model.info["rule"];
    if (!job.save_adv_dir.empty()) {
      nlohmann::json files = nlohmann::json::array();
      for (const auto& e : rep.by_eps) {
        const std::string name = fmt::format("{}-{}-eps{:g}-images-idx3-float", labels[m], to_string(opt.norm), e.eps);
        write_file_atomic(job.save_adv_dir + "/" + name, idx_float_images_bytes(e.adversarial, d.rows, d.cols));
        files.push_back({{"eps", e.eps}, {"images", name}, {"labels", "labels-idx1-ubyte"}});
      }
      j["adversarial_files"] = files;
    }
    for (const auto& f : rep.flags)
      if (f.raised && opt.progress) opt.progress(fmt::format("!! FLAG {}: {}", f.name, f.detail));
    out["models"].push_back(j);
  }
  if (!job.save_adv_dir.empty()) write_file_atomic(job.save_adv_dir + "/manifest.json", out.dump(2) + "\n");
  return out;
}

std::string robustness_csv(const nlohmann::json& results) {
  std::string csv = "model,data,norm,attack,eps,accuracy,correct,n\n";
  const std::string data = results.value("data", "");
  const std::string norm = results["options"].value("norm", "");
  for (const auto& m : results["models"]) {
    const std::string label = m.value("label", "");
    const auto n = m["n"].get<std::size_t>();
    for (const auto& r : m["attacks"])
      csv += fmt::format("{},{},{},{},{:g},{:.6f},{},{}\n", label, data, norm, r["attack"].get<std::string>(),
                         r["eps"].get<double>(), r["accuracy"].get<double>(), r["correct"].get<std::size_t>(), n);
    for (const auto& r : m["robust"])
      csv += fmt::format("{},{},{},worst_case,{:g},{:.6f},{},{}\n", label, data, norm, r["eps"].get<double>(),
                         r["robust_accuracy"].get<double>(), r["robust_correct"].get<std::size_t>(), n);
  }
  return csv;
}

}  // namespace dalenet
