#pragma once
// The attack registry: every attack `dalenet attack` can run, with what the evaluation needs to
// know about it (robustness.cpp). An attack is one file in src/eval/attacks/ that defines its
// AttackInfo, plus one line in registry.cpp; docs/CONTRIBUTING.md, "Adding an attack". Not part
// of the public API.
#include <Eigen/Core>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dalenet/attack.hpp"

namespace dalenet::detail {

// One run of an attack as the evaluation asks for it: the model (and the transfer source, where
// the ladder has one), the options, eps and the seed of this (attack, eps), on the examples `x0`
// with `labels`, whose stream keys are `keys` (attack_internal.hpp, "Stream keys").
struct AttackCall {
  Classifier& model;
  Classifier* transfer_source;
  const AttackOptions& opt;
  double eps;
  std::uint64_t seed;
  const Eigen::MatrixXf& x0;
  std::span<const std::uint8_t> labels;
  std::span<const std::size_t> keys;
};

// Runs the attack: per example 1 where the model is still correct, and in `adv` (one column per
// example) the input that fooled it. Attacks with random restarts fill `restarts` (fractions of
// the call's examples); others leave it empty.
using AttackFunction = std::vector<std::uint8_t> (*)(const AttackCall& call, Eigen::MatrixXf& adv, PgdStats& restarts);

struct AttackInfo {
  std::string name;
  // The carried schedule runs the attacks of a ladder in ascending cost_rank, so that each
  // expensive attack meets only what the cheaper or stronger ones left standing (run_order).
  // White-box attacks rank before every other in-threat attack (EpsResult::black_box_only).
  int cost_rank = 0;
  bool in_threat_model = true;  // false: a corruption, reported beside the robust accuracy
  bool white_box = false;       // follows the model's input gradient
  bool iterative = false;       // an iterative gradient attack: FGSM must not beat it, and it
                                // brings the convergence check (PGD-margin, twice the steps)
  bool linf_only = false;
  bool needs_source = false;       // a transfer attack: needs --transfer-from
  bool in_default_ladder = false;  // in default_attacks(norm)
  // Whether the default ladder runs it on this model (nullptr: on every model). An attack asked
  // for by name runs regardless, and says so if it cannot.
  bool (*applies)(Classifier& model) = nullptr;
  AttackFunction run = nullptr;
};

// PGD's options for a call: its norm, eps, seed and batch, and the ladder's steps, restarts and
// step factor (cross-entropy loss, random starts); attacks built on PGD change what differs.
PgdOptions pgd_options(const AttackCall& call);

// default_attacks(norm), with `transfer` when there is a transfer source: the ladder of defaults
// as a job states it (each model then runs default_ladder's part of it).
std::vector<std::string> default_attack_list(ThreatNorm norm, bool with_transfer);
// What a ladder of defaults runs on `model`: default_attacks(norm), with `transfer` when there is
// a transfer source, less the attacks that do not apply to the model (AttackInfo::applies); in
// the order of attack_names().
std::vector<std::string> default_ladder(Classifier& model, ThreatNorm norm, bool with_transfer);
// The part of an attack's seed that names it: its draws do not depend on where it stands in a
// ladder, nor on which other attacks run (FNV-1a of the name).
std::uint64_t attack_seed_key(std::string_view name);

// Every attack, in the order of attack_names().
const std::vector<AttackInfo>& attack_registry();
// The attack called `name`; throws InputError naming the known ones.
const AttackInfo& attack_info(std::string_view name);

// One per file of src/eval/attacks/.
AttackInfo fgsm_attack();
AttackInfo pgd_ce_attack();
AttackInfo pgd_margin_attack();
AttackInfo apgd_ce_attack();
AttackInfo apgd_t_attack();
AttackInfo pgd_bpda_attack();
AttackInfo pgd_drive_attack();
AttackInfo square_attack_info();
AttackInfo transfer_attack();
AttackInfo gaussian_attack();
AttackInfo salt_pepper_attack();

}  // namespace dalenet::detail
