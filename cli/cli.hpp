#pragma once
// The dalenet command-line tool: each cli/cmd_*.cpp declares its subcommands' options and what
// runs them; main.cpp parses and dispatches. All logic lives in libdalenet; a command only turns
// options into a library call and prints the result.
#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace dalenet::cli {

// The program's own options and arguments, shared by every command.
struct Globals {
  std::string data_dir;  // --data-dir ("" = $DALENET_DATA or ~/.cache/dalenet)
  int argc = 0;          // for MPI_Init (dalenet paper under mpirun)
  char** argv = nullptr;
};

// One subcommand: its node in the parser and what runs it once the command line is parsed (the
// options it reads live in the closure).
struct Command {
  CLI::App* node = nullptr;
  std::function<int()> run;
};
using Commands = std::vector<Command>;

// In the order `dalenet --help` lists them.
void add_train_command(CLI::App& app, const Globals& g, Commands& out);      // cmd_train.cpp
void add_eval_commands(CLI::App& app, const Globals& g, Commands& out);      // eval, predict
void add_data_command(CLI::App& app, const Globals& g, Commands& out);       // fetch, verify, info
void add_analyze_command(CLI::App& app, const Globals& g, Commands& out);    // cmd_analyze.cpp
void add_attack_command(CLI::App& app, const Globals& g, Commands& out);     // cmd_attack.cpp
void add_fewshot_command(CLI::App& app, const Globals& g, Commands& out);    // cmd_fewshot.cpp
void add_represent_command(CLI::App& app, const Globals& g, Commands& out);  // cmd_analyze.cpp
void add_config_command(CLI::App& app, const Globals& g, Commands& out);     // keys, show
void add_paper_command(CLI::App& app, Globals& g, Commands& out);            // cmd_paper.cpp
void add_rules_command(CLI::App& app, const Globals& g, Commands& out);      // cmd_config.cpp

// ---- shared by the commands (cli/parse.cpp) -----------------------------------------------------
std::string data_dir_or_default(const Globals& g);
// Splits "a,b,c" (and repeated options) into items.
std::vector<std::string> split_list(const std::vector<std::string>& given);
// The numbers of a comma list; ConfigError naming the option for an item that is not one.
std::vector<double> parse_number_list(const std::vector<std::string>& given, const std::string& option);
// Progress lines on stderr, flushed (the library's progress callbacks).
void print_progress_line(const std::string& line);
// One JSON line on stdout, flushed (--log-json: the events and the closing 'done' line).
void print_json_line(const nlohmann::json& event);

}  // namespace dalenet::cli
