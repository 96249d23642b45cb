#pragma once
// Atomic output files and the model file format (safetensors layout; docs/FORMATS.md).
#include <cstdint>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "dalenet/network.hpp"

namespace dalenet {

// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename,
// fsync of the folder. On any failure the temporary file is removed, `path` is left as it was,
// and IoError names the file.
void write_file_atomic(const std::string& path, std::span<const std::uint8_t> bytes);
void write_file_atomic(const std::string& path, const std::string& text);

// An exclusive lock on an output folder: flock() on DIR/.dalenet.lock, held while the object
// lives and released by the kernel when the process dies (kill -9 included), so a stale lock
// never blocks a rerun. Throws IoError naming the folder and the holder's pid if another
// process holds it. On success, temporary files left by killed writers (".NAME.tmp-PID") are
// removed.
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::string& dir);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

inline constexpr int kModelFormatVersion = 1;
// Refuse headers larger than this before allocating (a real one is a few KB).
inline constexpr std::uint64_t kMaxModelHeaderBytes = 64ULL << 20;

struct Model {
  Network net;
  // Free-form provenance written by the trainer: rule, resolved config, seed, data set and its
  // hashes, dalenet version, counters. The architecture is stored separately and always.
  nlohmann::json info = nlohmann::json::object();
};

// Saves in the safetensors layout: u64 little-endian header length N, N bytes of JSON header
// (tensor table + "__metadata__" {"dalenet": "<JSON string>"}), then raw little-endian data.
void save_model(const std::string& path, const Model& model);
// Loads and validates everything (header length and bounds, JSON, dtypes, shapes, offsets,
// architecture vs tensors, finite values). Throws ModelFileError naming the file.
Model load_model(const std::string& path);
// As load_model, from bytes in memory (`name` appears in error messages).
Model parse_model(std::span<const std::uint8_t> bytes, const std::string& name);

nlohmann::json architecture_to_json(const Network& net);

}  // namespace dalenet
