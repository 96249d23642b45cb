#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli.hpp"
#include "dalenet/data.hpp"
#include "dalenet/error.hpp"

namespace dalenet::cli {

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
