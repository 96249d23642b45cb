// The one list of attacks (registry.hpp). The order is that of attack_names(): the order in
// which an exhaustive ladder of defaults reports them.
#include "registry.hpp"

#include <fmt/format.h>

#include "dalenet/error.hpp"

namespace dalenet {

namespace detail {

const std::vector<AttackInfo>& attack_registry() {
  static const std::vector<AttackInfo> all = {
      fgsm_attack(),     pgd_ce_attack(),   pgd_margin_attack(),  apgd_ce_attack(),
      apgd_t_attack(),   pgd_bpda_attack(), pgd_drive_attack(),   square_attack_info(),
      transfer_attack(), gaussian_attack(), salt_pepper_attack(),
  };
  return all;
}

const AttackInfo& attack_info(std::string_view name) {
  for (const auto& a : attack_registry())
    if (a.name == name) return a;
  throw InputError(fmt::format("attack: unknown attack '{}' (known: {})", name, fmt::join(attack_names(), ", ")));
}

std::vector<std::string> default_attack_list(ThreatNorm norm, bool with_transfer) {
  std::vector<std::string> v;
  for (const auto& a : attack_registry()) {
    const bool listed = a.in_default_ladder || (with_transfer && a.needs_source);
    if (listed && (norm == ThreatNorm::linf || !a.linf_only)) v.push_back(a.name);
  }
  return v;
}

std::vector<std::string> default_ladder(Classifier& model, ThreatNorm norm, bool with_transfer) {
  std::vector<std::string> v;
  for (const auto& name : default_attack_list(norm, with_transfer)) {
    const AttackInfo& a = attack_info(name);
    if (a.applies == nullptr || a.applies(model)) v.push_back(name);
  }
  return v;
}

std::uint64_t attack_seed_key(std::string_view name) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char ch : name) {
    h ^= static_cast<unsigned char>(ch);
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace detail

const std::vector<std::string>& attack_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& a : detail::attack_registry()) v.push_back(a.name);
    return v;
  }();
  return names;
}

std::vector<std::string> default_attacks(ThreatNorm norm) {
  return detail::default_attack_list(norm, false);
}

}  // namespace dalenet
