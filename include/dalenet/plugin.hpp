#pragma once
// Learning rules written outside the tree (docs/INSTALL.md, examples/custom_rule/).
//
// A plugin is a shared object built against an installed dalenet (find_package(dalenet),
// dalenet::core). It implements LearningRule (rule.hpp), registers it under a name with
// register_rule(), and exports that registration with DALENET_PLUGIN(function). A config lists
// it in train.plugins; the CLI, the Python module and the audit of a model it trained then load
// it before the config names its rule.
//
// A plugin shares C++ types with the library (Network, Eigen matrices, RuleConfig), so it must be
// built by the same compiler ABI, with the same Eigen vectorisation (DALENET_NATIVE) and against
// the same dalenet version. The loader compares the plugin's plugin_abi_signature() with its own
// and refuses a mismatch by name, instead of failing later in memory.
#include <Eigen/Core>
#include <cstdio>
#include <string>

#include "dalenet/rule.hpp"
#include "dalenet/version.hpp"

namespace dalenet {

// The version of the plugin interface: LearningRule, LocalPlasticity (local.hpp), RuleInfo,
// RuleParam, RuleConfig, register_rule and the types they pass (Network, Projection, Layer).
// Raised whenever one of them changes; each version is listed in CHANGELOG.md.
inline constexpr int kPluginInterfaceVersion = 1;

// Everything a plugin and the library must agree on, as one line. Evaluated with the compile
// options of whoever calls it. Static (internal linkage): the dynamic linker must not bind the
// plugin's call to the library's copy, or the plugin would describe the library.
static inline const char* plugin_abi_signature() {
  static char text[160];
#if defined(_GLIBCXX_USE_CXX11_ABI)
  const int cxx11_abi = _GLIBCXX_USE_CXX11_ABI;
#else
  const int cxx11_abi = -1;
#endif
  std::snprintf(text, sizeof text, "interface %d, dalenet %s, eigen %d.%d.%d align %d, libstdc++ cxx11 abi %d",
                kPluginInterfaceVersion, kVersion, EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION,
                static_cast<int>(EIGEN_MAX_ALIGN_BYTES), cxx11_abi);
  return text;
}

// Adds a rule to rule_registry(). Throws ConfigError if the name is empty, already registered,
// or `make` is missing. Call it before configurations name the rule (not concurrently with
// training).
void register_rule(RuleInfo info);

// Loads the plugin at `path` (a path; relative paths are taken from the working directory) and
// runs its registration. Loading the same file again is a no-op. `where` names the source in
// error messages (e.g. "run.toml: key 'train.plugins[0]'"). Throws ConfigError for a missing or
// unreadable file, a shared object that is not a dalenet plugin, a signature mismatch, or an
// error thrown by the registration. A loaded plugin stays loaded for the life of the process.
void load_plugin(const std::string& path, const std::string& where = "plugin");

}  // namespace dalenet

// Exports `register_function` (void(), calling dalenet::register_rule) as the plugin's entry
// point, with the signature the loader checks. Use once per plugin, at namespace scope.
#define DALENET_PLUGIN(register_function)                                              \
  extern "C" __attribute__((visibility("default"))) const char* dalenet_plugin_abi() { \
    return ::dalenet::plugin_abi_signature();                                          \
  }                                                                                    \
  extern "C" __attribute__((visibility("default"))) void dalenet_plugin_register() {   \
    register_function();                                                               \
  }
