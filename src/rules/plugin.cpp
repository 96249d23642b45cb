// Loading learning-rule plugins (plugin.hpp). dlopen with RTLD_NOW, so that a plugin with an
// unresolved symbol (built against another dalenet) fails here, by name, rather than at its first
// call; RTLD_LOCAL, so that two plugins cannot see each other's symbols.
#include <dlfcn.h>

#include <filesystem>
#include <mutex>
#include <set>

#include "dalenet/error.hpp"
#include "dalenet/plugin.hpp"

namespace dalenet {

void load_plugin(const std::string& path, const std::string& where) {
  static std::mutex mutex;
  static std::set<std::string> loaded;  // canonical paths
  const std::lock_guard<std::mutex> lock(mutex);
  const std::string prefix = where + ": plugin '" + path + "'";
  std::error_code ec;
  const std::filesystem::path file = std::filesystem::canonical(path, ec);
  if (ec) throw ConfigError(prefix + ": " + ec.message());
  if (!std::filesystem::is_regular_file(file)) throw ConfigError(prefix + ": not a regular file");
  if (loaded.count(file.string()) != 0) return;

  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    throw ConfigError(prefix + ": cannot load: " + (why != nullptr ? why : "unknown dlopen error"));
  }
  using SignatureFn = const char* (*)();
  using RegisterFn = void (*)();
  auto* signature = reinterpret_cast<SignatureFn>(dlsym(handle, "dalenet_plugin_abi"));
  auto* registration = reinterpret_cast<RegisterFn>(dlsym(handle, "dalenet_plugin_register"));
  if (signature == nullptr || registration == nullptr) {
    dlclose(handle);
    throw ConfigError(prefix + ": not a dalenet plugin (no DALENET_PLUGIN entry point)");
  }
  const std::string theirs = signature();
  const std::string ours = plugin_abi_signature();
  if (theirs != ours) {
    dlclose(handle);
    throw ConfigError(prefix + ": built for [" + theirs + "], but this dalenet is [" + ours +
                      "]; rebuild the plugin against this dalenet");
  }
  // The handle is never closed once registration ran: the registry holds the plugin's functions.
  try {
    registration();
  } catch (const std::exception& e) {
    throw ConfigError(prefix + ": registration failed: " + e.what());
  }
  loaded.insert(file.string());
}

}  // namespace dalenet
