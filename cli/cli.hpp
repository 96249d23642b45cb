#pragma once
// The dalenet command-line tool: each cli/cmd_*.cpp declares its subcommands' options and what
// runs them; main.cpp parses and dispatches. All logic lives in libdalenet; a command only turns
// options into a library call and prints the result.
//
// The commands declare their options through Node, not CLI11: CLI11 is header-only and most of
// the compile and clang-tidy time of each file that includes it, so only parse.cpp (which
// implements Node) and main.cpp (which parses) do.
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace dalenet::cli {

// A command of the parser, to declare its options on. Each option fills the variable it names
// when the command line gives it; `names` are CLI11's ("--out,-o", or a bare name for a
// positional). The modifiers apply to the option declared last.
class Node {
 public:
  Node() = default;
  explicit Node(CLI::App* app) : app_(app) {}

  Node subcommand(const std::string& name, const std::string& help);
  Node& require_subcommand();  // exactly one
  // T: std::string, std::vector<std::string>, int, std::int64_t, std::uint64_t, double (parse.cpp).
  template <class T>
  Node& option(const std::string& names, T& into, const std::string& help = "");
  Node& flag(const std::string& names, bool& into, const std::string& help);
  Node& flag(const std::string& names, std::function<void()> when_given, const std::string& help);

  Node& required();
  Node& show_default();  // the variable's value before parsing, in --help
  Node& range(int low, int high);
  Node& range(double low, double high);
  Node& existing_directory();
  Node& hidden();                            // internal options: not in --help
  Node& excludes(const std::string& other);  // an option declared before, by its long name

  bool parsed() const;

 private:
  CLI::App* app_ = nullptr;
  CLI::Option* last_ = nullptr;
};

// The program's own options and arguments, shared by every command.
struct Globals {
  std::string data_dir;  // --data-dir ("" = $DALENET_DATA or ~/.cache/dalenet)
  int argc = 0;          // for MPI_Init (dalenet paper under mpirun)
  char** argv = nullptr;
};

// One subcommand: its node in the parser and what runs it once the command line is parsed (the
// options it reads live in the closure).
struct Command {
  Node node;
  std::function<int()> run;
};
using Commands = std::vector<Command>;

// In the order `dalenet --help` lists them.
void add_train_command(Node& root, const Globals& g, Commands& out);      // cmd_train.cpp
void add_eval_commands(Node& root, const Globals& g, Commands& out);      // eval, predict
void add_data_command(Node& root, const Globals& g, Commands& out);       // fetch, verify, info
void add_analyze_command(Node& root, const Globals& g, Commands& out);    // cmd_analyze.cpp
void add_attack_command(Node& root, const Globals& g, Commands& out);     // cmd_attack.cpp
void add_fewshot_command(Node& root, const Globals& g, Commands& out);    // cmd_fewshot.cpp
void add_represent_command(Node& root, const Globals& g, Commands& out);  // cmd_analyze.cpp
void add_config_command(Node& root, const Globals& g, Commands& out);     // keys, show
void add_paper_command(Node& root, Globals& g, Commands& out);            // cmd_paper.cpp
void add_rules_command(Node& root, const Globals& g, Commands& out);      // cmd_config.cpp

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
