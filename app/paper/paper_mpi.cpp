// The MPI side of `dalenet paper` (built when CMake finds MPI: DALENET_HAVE_MPI). Units of a
// stage are split by position over the ranks; after the stage every rank broadcasts the folders
// of its units, so that each rank (on any host, shared file system or not) holds all of them.
#include "dalenet/paper.hpp"

#ifdef DALENET_HAVE_MPI
#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "dalenet/error.hpp"
#include "dalenet/io.hpp"
#endif

namespace dalenet {

#ifdef DALENET_HAVE_MPI
namespace {
namespace fs = std::filesystem;

// Blob: [u64 path length][path][u64 size][bytes]..., done.json last (it marks the unit finished).
std::vector<char> pack(const std::string& dir) {
  std::vector<std::string> files;
  if (fs::exists(dir))
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file()) files.push_back(fs::relative(e.path(), dir).string());
  std::sort(files.begin(), files.end(), [](const std::string& a, const std::string& b) {
    return std::pair{a == "done.json", a} < std::pair{b == "done.json", b};
  });
  std::vector<char> out;
  auto put = [&](const void* p, std::size_t n) {
    const auto* c = static_cast<const char*>(p);
    out.insert(out.end(), c, c + n);
  };
  for (const auto& f : files) {
    if (f.find(".tmp") != std::string::npos) continue;  // an atomic write in progress elsewhere
    std::ifstream in(dir + "/" + f, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::uint64_t ln = f.size(), sz = bytes.size();
    put(&ln, sizeof ln);
    put(f.data(), f.size());
    put(&sz, sizeof sz);
    put(bytes.data(), bytes.size());
  }
  return out;
}

void unpack(const std::string& dir, const std::vector<char>& blob) {
  std::size_t at = 0;
  auto get = [&](void* p, std::size_t n) {
    if (at + n > blob.size()) throw IoError("paper (MPI): a truncated unit folder arrived for " + dir);
    std::memcpy(p, blob.data() + at, n);
    at += n;
  };
  while (at < blob.size()) {
    std::uint64_t ln = 0, sz = 0;
    get(&ln, sizeof ln);
    std::string name(ln, '\0');
    get(name.data(), ln);
    get(&sz, sizeof sz);
    std::vector<std::uint8_t> bytes(sz);
    get(bytes.data(), sz);
    const std::string path = dir + "/" + name;
    // On a shared file system the owner already wrote this very file: leave it alone.
    if (fs::exists(path) && fs::file_size(path) == sz) {
      std::ifstream in(path, std::ios::binary);
      const std::vector<std::uint8_t> have((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (have == bytes) continue;
    }
    fs::create_directories(fs::path(path).parent_path());
    write_file_atomic(path, bytes);
  }
}

class MpiComm final : public PaperComm {
 public:
  MpiComm() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiComm() override { MPI_Finalize(); }
  MpiComm(const MpiComm&) = delete;
  MpiComm& operator=(const MpiComm&) = delete;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void share(const std::string& units_root, const std::vector<std::string>& ids,
             const std::vector<int>& owner) override {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const std::string dir = units_root + "/" + ids[i];
      std::vector<char> blob;
      if (owner[i] == rank_) blob = pack(dir);
      std::uint64_t n = blob.size();
      MPI_Bcast(&n, 1, MPI_UINT64_T, owner[i], MPI_COMM_WORLD);
      blob.resize(n);
      constexpr std::uint64_t kChunk = 1U << 30;
      for (std::uint64_t at = 0; at < n; at += kChunk)
        MPI_Bcast(blob.data() + at, static_cast<int>(std::min(kChunk, n - at)), MPI_CHAR, owner[i], MPI_COMM_WORLD);
      if (owner[i] != rank_) unpack(dir, blob);
    }
  }
  void barrier() override { MPI_Barrier(MPI_COMM_WORLD); }
  void fail() override { MPI_Abort(MPI_COMM_WORLD, 1); }

 private:
  int rank_ = 0, size_ = 1;
};

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v) != nullptr) return true;  // NOLINT(concurrency-mt-unsafe): before any thread starts
  return false;
}
}  // namespace

std::unique_ptr<PaperComm> make_mpi_comm(int* argc, char*** argv) {
  if (!launched_by_mpi()) return nullptr;
  MPI_Init(argc, argv);
  return std::make_unique<MpiComm>();
}
bool have_mpi() {
  return true;
}
#else
std::unique_ptr<PaperComm> make_mpi_comm(int* /*argc*/, char*** /*argv*/) {
  return nullptr;
}
bool have_mpi() {
  return false;
}
#endif

}  // namespace dalenet
