#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli.hpp"
#include "dalenet/data.hpp"
#include "dalenet/error.hpp"

namespace dalenet::cli {

// ---- Node: the one adapter onto CLI11 ------------------------------------------------------------
Node Node::subcommand(const std::string& name, const std::string& help) {
  return Node(app_->add_subcommand(name, help));
}

Node& Node::require_subcommand() {
  app_->require_subcommand(1);
  return *this;
}

template <class T>
Node& Node::option(const std::string& names, T& into, const std::string& help) {
  last_ = app_->add_option(names, into, help);
  return *this;
}
template Node& Node::option(const std::string&, std::string&, const std::string&);
template Node& Node::option(const std::string&, std::vector<std::string>&, const std::string&);
template Node& Node::option(const std::string&, int&, const std::string&);
template Node& Node::option(const std::string&, std::int64_t&, const std::string&);
template Node& Node::option(const std::string&, std::uint64_t&, const std::string&);
template Node& Node::option(const std::string&, double&, const std::string&);

Node& Node::flag(const std::string& names, bool& into, const std::string& help) {
  last_ = app_->add_flag(names, into, help);
  return *this;
}

Node& Node::flag(const std::string& names, std::function<void()> when_given, const std::string& help) {
  last_ = app_->add_flag(
      names, [when_given = std::move(when_given)](std::int64_t) { when_given(); }, help);
  return *this;
}

Node& Node::required() {
  last_->required();
  return *this;
}

Node& Node::show_default() {
  last_->capture_default_str();
  return *this;
}

Node& Node::range(int low, int high) {
  last_->check(CLI::Range(low, high));
  return *this;
}

Node& Node::range(double low, double high) {
  last_->check(CLI::Range(low, high));
  return *this;
}

Node& Node::existing_directory() {
  last_->check(CLI::ExistingDirectory);
  return *this;
}

Node& Node::hidden() {
  last_->group("");
  return *this;
}

Node& Node::excludes(const std::string& other) {
  last_->excludes(app_->get_option(other));
  return *this;
}

bool Node::parsed() const {
  return app_->parsed();
}

// ---- shared by the commands ---------------------------------------------------------------------

std::string data_dir_or_default(const Globals& g) {
  return dalenet::data_dir_or_default(g.data_dir);
}

std::vector<std::string> split_list(const std::vector<std::string>& given) {
  std::vector<std::string> out;
  for (const auto& g : given) {
    std::stringstream ss(g);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::vector<double> parse_number_list(const std::vector<std::string>& given, const std::string& option) {
  std::vector<double> out;
  for (const auto& item : split_list(given)) {
    std::size_t used = 0;
    double v = 0.0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size()) throw ConfigError(option + ": '" + item + "' is not a number");
    out.push_back(v);
  }
  return out;
}

void print_json_line(const nlohmann::json& event) {
  std::cout << event.dump() << std::endl;
}

void print_progress_line(const std::string& line) {
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace dalenet::cli
