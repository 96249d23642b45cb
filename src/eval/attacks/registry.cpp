// The one list of attacks (registry.hpp). The order is that of attack_names(): the order in
// which an exhaustive ladder of defaults reports them.
#include "registry.hpp"

#include <fmt/format.h>

#include "dalenet/error.hpp"

namespace dalenet {

namespace detail {

const std::vector<AttackInfo>& attack_registry() {
  static const std::vector<AttackInfo> all = {
      fgsm_attack(),     pgd_ce_attack(),      pgd_margin_attack(), apgd_ce_attack(),  apgd_t_attack(),
      pgd_bpda_attack(), square_attack_info(), transfer_attack(),   gaussian_attack(), salt_pepper_attack(),
  };
  return all;
}

const AttackInfo& attack_info(std::string_view name) {
  for (const auto& a : attack_registry())
    if (a.name == name) return a;
  throw InputError(fmt::format("attack: unknown attack '{}' (known: {})", name, fmt::join(attack_names(), ", ")));
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
  std::vector<std::string> v;
  for (const auto& a : detail::attack_registry())
    if (a.in_default_ladder && (norm == ThreatNorm::linf || !a.linf_only)) v.push_back(a.name);
  return v;
}

}  // namespace dalenet
