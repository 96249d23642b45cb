#pragma once
// Helpers of `dalenet paper` shared by running the units (paper.cpp) and estimating them
// (paper_estimate.cpp), so that the estimate calibrates exactly what a unit runs. Internal.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dalenet/attack.hpp"
#include "dalenet/fewshot.hpp"
#include "dalenet/paper.hpp"
#include "util/clock.hpp"

namespace dalenet::paper_detail {

using dalenet::Clock;
using dalenet::seconds_since;

std::string run_name(const std::string& arm, const std::string& dataset, std::int64_t seed);
std::string unit_dir(const std::string& out, const std::string& id);
bool unit_done(const std::string& out, const std::string& id);
std::string model_path(const std::string& out, const std::string& arm, const std::string& dataset, std::int64_t seed);
// The `--set` overrides of an arm's training run: overrides.all, overrides.<arm>, seed, threads.
std::vector<std::string> train_overrides(const PaperConfig& cfg, const std::string& arm, std::int64_t seed);
std::string arm_config(const PaperConfig& cfg, const std::string& arm, const std::string& dataset);
std::string plan_inputs_sha256(const PaperConfig& cfg, const std::vector<PaperUnit>& units);
// Which of `share_of` processes runs the i-th unit of a stage: every share_of-th by position, so
// that every process computes the same split without talking.
int unit_owner(std::size_t i, int share_of);
// An attack unit's job: its model under out_dir, the transfer source, the robustness settings.
AttackJob attack_job(const PaperConfig& cfg, const PaperUnit& u, const std::string& out_dir,
                     const std::string& data_dir);
// A few-shot unit's options (without out_dir and progress).
FewShotOptions fewshot_options(const PaperConfig& cfg, const std::string& dataset, const std::string& data_dir);

// The estimate printed at the start of a run: out_dir/estimate.json when it was calibrated for
// the same inputs, threads, calibration models, host and build (`reused` set; the split over
// processes is recomputed), else a new calibration,
// stored there.
PaperEstimate estimate_for_run(const PaperConfig& cfg, const PaperEstimateOptions& opt,
                               const std::string& inputs_sha256, bool& reused);

}  // namespace dalenet::paper_detail
