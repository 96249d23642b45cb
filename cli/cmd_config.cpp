// dalenet config keys | show, dalenet rules
#include <fmt/format.h>
#include <iostream>
#include <memory>

#include "cli.hpp"
#include "dalenet/config.hpp"
#include "dalenet/plugin.hpp"
#include "dalenet/rule.hpp"

namespace dalenet::cli {

void add_config_command(Node& root, const Globals& /*g*/, Commands& out) {
  Node config_cmd = root.subcommand("config", "Show configuration keys, or a resolved configuration");
  config_cmd.require_subcommand();
  Node keys_cmd = config_cmd.subcommand("keys", "Every key with its default and meaning");
  out.push_back({keys_cmd, [] {
                   for (const auto& k : config_schema())
                     std::cout << fmt::format("{:28} {:18} {}\n", k.key, k.default_value, k.doc);
                   return 0;
                 }});
  struct ShowArgs {
    std::string config;
    std::vector<std::string> sets;
  };
  auto a = std::make_shared<ShowArgs>();
  Node show_cmd = config_cmd.subcommand("show", "Print the resolved TOML of --config plus --set overrides");
  show_cmd.option("--config,-c", a->config, "TOML config file")
      .option("--set,-s", a->sets, "Override a config key: section.key=value (repeatable)");
  out.push_back({show_cmd, [a] {
                   std::cout << to_toml(load_config(a->config, a->sets));
                   return 0;
                 }});
}

void add_rules_command(Node& root, const Globals& /*g*/, Commands& out) {
  Node cmd = root.subcommand("rules", "List the learning rules (config key train.rule) and their parameters");
  auto plugins = std::make_shared<std::vector<std::string>>();
  cmd.option("--plugin", *plugins, "Load this rule plugin first (repeatable; what train.plugins does in a config)");
  out.push_back({cmd, [plugins] {
                   for (const auto& p : *plugins) load_plugin(p, "--plugin");
                   for (const auto& r : rule_registry()) {
                     std::cout << fmt::format("{:8} {}\n", r.name, r.description);
                     for (const auto& p : r.params)
                       std::cout << fmt::format("         rule_params.{} = {}: {}\n", p.key, p.default_value.dump(),
                                                p.doc);
                   }
                   return 0;
                 }});
}

}  // namespace dalenet::cli
