#pragma once
// Shared test helpers: temporary folders, synthetic IDX files and a learnable synthetic task.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dalenet/error.hpp"
#include "dalenet/rng.hpp"

namespace dalenet::test {

// A fresh folder under the system temp dir, removed at destruction.
class TempDir {
 public:
  TempDir() {
    Rng r(static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(this)) ^ static_cast<std::uint64_t>(::getpid()));
    path_ = std::filesystem::temp_directory_path() / ("dalenet-test-" + std::to_string(r.next_u64()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void put_be32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<std::uint8_t>(x >> s));
}

inline std::vector<std::uint8_t> idx_images_bytes(std::uint32_t n, std::uint32_t rows, std::uint32_t cols,
                                                  const std::vector<std::uint8_t>& pixels) {
  std::vector<std::uint8_t> v = {0, 0, 8, 3};
  put_be32(v, n);
  put_be32(v, rows);
  put_be32(v, cols);
  v.insert(v.end(), pixels.begin(), pixels.end());
  return v;
}

inline std::vector<std::uint8_t> idx_labels_bytes(const std::vector<std::uint8_t>& labels) {
  std::vector<std::uint8_t> v = {0, 0, 8, 1};
  put_be32(v, static_cast<std::uint32_t>(labels.size()));
  v.insert(v.end(), labels.begin(), labels.end());
  return v;
}

inline void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline void write_gz(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

inline std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A learnable synthetic task: `classes` prototypes of rows x cols pixels (a random 25 % of
// pixels bright), each example a prototype with pixel noise and 10 % of pixels flipped.
struct SyntheticTask {
  std::vector<std::uint8_t> pixels, labels;
  std::uint32_t n, rows, cols;
};
inline SyntheticTask make_synthetic_task(std::uint32_t n, std::uint32_t rows, std::uint32_t cols, int classes,
                                         std::uint64_t seed) {
  Rng rng(seed);
  const std::uint32_t dim = rows * cols;
  std::vector<std::vector<bool>> proto(static_cast<std::size_t>(classes), std::vector<bool>(dim));
  for (auto& p : proto)
    for (std::uint32_t i = 0; i < dim; ++i) p[i] = rng.uniform() < 0.25;
  SyntheticTask t{{}, {}, n, rows, cols};
  for (std::uint32_t k = 0; k < n; ++k) {
    const auto c = static_cast<std::uint8_t>(rng.below(static_cast<std::uint64_t>(classes)));
    t.labels.push_back(c);
    for (std::uint32_t i = 0; i < dim; ++i) {
      bool on = proto[c][i];
      if (rng.uniform() < 0.10) on = !on;
      const double v = on ? rng.uniform(150, 255) : rng.uniform(0, 60);
      t.pixels.push_back(static_cast<std::uint8_t>(v));
    }
  }
  return t;
}

// Writes a synthetic train/test IDX pair into `dir`; returns the data.dataset config value.
inline std::string write_synthetic_idx(const TempDir& dir, std::uint32_t n_train, std::uint32_t n_test,
                                       std::uint64_t seed = 7) {
  const auto all = make_synthetic_task(n_train + n_test, 8, 8, 10, seed);
  const std::size_t dim = 64;
  std::vector<std::uint8_t> trp(all.pixels.begin(), all.pixels.begin() + static_cast<std::ptrdiff_t>(n_train * dim));
  std::vector<std::uint8_t> tep(all.pixels.begin() + static_cast<std::ptrdiff_t>(n_train * dim), all.pixels.end());
  std::vector<std::uint8_t> trl(all.labels.begin(), all.labels.begin() + n_train);
  std::vector<std::uint8_t> tel(all.labels.begin() + n_train, all.labels.end());
  write_bytes(dir / "train-images", idx_images_bytes(n_train, 8, 8, trp));
  write_bytes(dir / "train-labels", idx_labels_bytes(trl));
  write_bytes(dir / "test-images", idx_images_bytes(n_test, 8, 8, tep));
  write_bytes(dir / "test-labels", idx_labels_bytes(tel));
  return "idx:" + (dir / "train-images") + "," + (dir / "train-labels") + ";" + (dir / "test-images") + "," +
         (dir / "test-labels");
}

// The CLI as a subprocess (stdout and stderr together) and its exit code.
struct CliRun {
  int code;
  std::string output;
};
inline CliRun run_cli(const std::string& args) {
  const std::string cmd = std::string(DALENET_CLI) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (p != nullptr && std::fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  const int status = p != nullptr ? pclose(p) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}
inline bool has(const std::string& s, const std::string& f) {
  return s.find(f) != std::string::npos;
}
// The message of the ConfigError that fn() throws; a test failure (and "") if it throws none.
template <class F>
std::string config_error(F&& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected ConfigError";
  return "";
}
}  // namespace dalenet::test
