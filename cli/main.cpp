// dalenet command-line tool: a thin layer over the library (all logic lives in libdalenet; each
// command's options and printing are in cli/cmd_*.cpp).
// Exit codes: 0 success, 1 runtime error (data, model file, I/O), 2 usage or configuration
// error, 3 training diverged.
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "cli.hpp"
#include "dalenet/error.hpp"
#include "dalenet/version.hpp"

int main(int argc, char** argv) {
  using namespace dalenet;
  CLI::App app{
      fmt::format("dalenet {} - biologically guided learning for sparse networks, with backprop baselines.\n"
                  "Data cache: $DALENET_DATA (default ~/.cache/dalenet). Docs: README.md, docs/.",
                  kVersion)};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(kVersion));
  cli::Globals globals;
  globals.argc = argc;
  globals.argv = argv;
  app.add_option("--data-dir", globals.data_dir, "Data cache folder (overrides $DALENET_DATA)");

  cli::Commands commands;
  cli::Node root(&app);
  cli::add_train_command(root, globals, commands);
  cli::add_eval_commands(root, globals, commands);
  cli::add_data_command(root, globals, commands);
  cli::add_analyze_command(root, globals, commands);
  cli::add_attack_command(root, globals, commands);
  cli::add_fewshot_command(root, globals, commands);
  cli::add_represent_command(root, globals, commands);
  cli::add_config_command(root, globals, commands);
  cli::add_paper_command(root, globals, commands);
  cli::add_rules_command(root, globals, commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    for (const auto& c : commands)
      if (c.node.parsed()) return c.run();
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
