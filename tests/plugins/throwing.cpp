// A plugin whose registration fails (a rule with no make function): the loader reports it.
#include "dalenet/plugin.hpp"

namespace {
void register_broken() {
  dalenet::RuleInfo info;
  info.name = "broken";
  dalenet::register_rule(std::move(info));
}
}  // namespace

DALENET_PLUGIN(register_broken)
