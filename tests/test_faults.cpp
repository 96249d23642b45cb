// Fault injection (docs/RELIABILITY.md): a write that fails mid-file (RLIMIT_FSIZE, the
// kernel's own "file too large" error, standing in for a full disk), processes killed with
// SIGKILL at random points of `train`, two processes on one output folder, an unusable data
// cache and a missing data set. Outputs must stay absent or previous, never truncated; reruns
// must give the same results as an uninterrupted run.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "dalenet/config.hpp"
#include "dalenet/error.hpp"
#include "dalenet/io.hpp"
#include "helpers.hpp"

using namespace dalenet;
using namespace dalenet::test;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> temp_files(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) out.push_back(e.path().string());
  return out;
}

// Every output present in a run folder is complete: it parses.
void expect_complete_outputs(const std::string& dir) {
  if (fs::exists(dir + "/config.toml")) {
    EXPECT_NO_THROW(load_config(dir + "/config.toml")) << dir;
  }
  if (fs::exists(dir + "/model.safetensors")) {
    EXPECT_NO_THROW(load_model(dir + "/model.safetensors")) << dir;
  }
  if (fs::exists(dir + "/results.json")) {
    const auto bytes = read_bytes(dir + "/results.json");
    EXPECT_TRUE(nlohmann::json::accept(bytes)) << dir;
    // A finished run's three files belong together.
    EXPECT_TRUE(fs::exists(dir + "/model.safetensors"));
    EXPECT_TRUE(fs::exists(dir + "/config.toml"));
  }
}

// The kill test's network is big enough (about 1 s of training, a 0.6 MB model) for kills
// to land in every phase: start-up, epochs and the writing of the outputs.
std::string train_args(const std::string& ds, const std::string& out, int seed = 1, const std::string& hidden = "[48]",
                       int epochs = 4) {
  return "train --quiet --set \"data.dataset='" + ds + "'\" --set data.validation=200 --set network.hidden=" + hidden +
         " --set train.epochs=" + std::to_string(epochs) +
         " --set train.threads=1 --set train.seed=" + std::to_string(seed) + " --out " + out;
}

// The CLI run directly (no shell in between, so SIGKILL reaches dalenet itself).
pid_t spawn_cli(const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    std::string exe = DALENET_CLI;
    argv.push_back(exe.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execv(DALENET_CLI, argv.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

TEST(Faults, AtomicWriteThatFailsMidFileLeavesThePreviousFile) {
  TempDir dir;
  const std::string path = dir / "out.bin";
  write_file_atomic(path, std::string("previous content"));
  // RLIMIT_FSIZE makes write() fail with EFBIG part-way through (SIGXFSZ ignored), as a full
  // disk makes it fail with ENOSPC.
  struct sigaction ignore {
  }, old_action{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGXFSZ, &ignore, &old_action);
  rlimit old_limit{};
  ::getrlimit(RLIMIT_FSIZE, &old_limit);
  rlimit small = old_limit;
  small.rlim_cur = 1000;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  try {
    write_file_atomic(path, std::string(5000, 'x'));
  } catch (const IoError& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::sigaction(SIGXFSZ, &old_action, nullptr);
  EXPECT_TRUE(has(message, "out.bin") && has(message, "failed")) << message;
  const auto bytes = read_bytes(path);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "previous content");
  EXPECT_TRUE(temp_files(dir.path().string()).empty());
  // A folder that does not exist: a clear error, nothing created.
  EXPECT_THROW(write_file_atomic(dir / "missing/out.bin", std::string("x")), IoError);
}

TEST(Faults, TrainWithAFailingDiskNeverLeavesATruncatedOrMixedRun) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 1000, 200);
  const std::string limit = "bash -c \"trap '' XFSZ; ulimit -f 4; exec " + std::string(DALENET_CLI) + " ";
  auto run_limited = [&](const std::string& args) {
    std::string escaped;
    for (char c : args) {
      if (c == '"') escaped += '\\';
      escaped += c;
    }
    const std::string cmd = limit + escaped + "\" 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    std::array<char, 4096> buf{};
    while (p != nullptr && std::fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
    const int status = p != nullptr ? pclose(p) : -1;
    return CliRun{WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
  };
  // A fresh folder: the model (about 14 KB) does not fit under a 4 KB limit.
  const CliRun fresh = run_limited(train_args(ds, dir / "fresh"));
  EXPECT_EQ(fresh.code, 1) << fresh.output;
  EXPECT_TRUE(has(fresh.output, "model.safetensors") && has(fresh.output, "failed")) << fresh.output;
  EXPECT_FALSE(fs::exists(dir / "fresh/model.safetensors"));
  EXPECT_FALSE(fs::exists(dir / "fresh/results.json"));
  EXPECT_TRUE(temp_files(dir / "fresh").empty());
  expect_complete_outputs(dir / "fresh");
  // The folder is unfinished, not poisoned: the same command without the fault completes.
  EXPECT_EQ(run_cli(train_args(ds, dir / "fresh")).code, 0);
  expect_complete_outputs(dir / "fresh");

  // Overwriting a finished run: the old model stays intact, and the folder no longer claims to
  // be finished (results.json is removed before anything is rewritten).
  const auto old_model = read_bytes(dir / "fresh/model.safetensors");
  const CliRun over = run_limited(train_args(ds, dir / "fresh", 2) + " --overwrite");
  EXPECT_EQ(over.code, 1) << over.output;
  EXPECT_EQ(read_bytes(dir / "fresh/model.safetensors"), old_model);
  EXPECT_FALSE(fs::exists(dir / "fresh/results.json"));
  EXPECT_TRUE(temp_files(dir / "fresh").empty());
  expect_complete_outputs(dir / "fresh");
}

TEST(Faults, KilledTrainingRerunGivesTheUninterruptedResult) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 3000, 300);
  const CliRun ref = run_cli(train_args(ds, dir / "ref", 1, "[2048]", 12));
  ASSERT_EQ(ref.code, 0) << ref.output;
  Rng rng(2026);
  const std::string out = dir / "killed";
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(run_cli(train_args(ds, dir / "timing", 1, "[2048]", 12)).code, 0);
  const auto run_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  int killed_mid_run = 0;
  for (int k = 0; k < 4; ++k) {
    std::vector<std::string> args = {"train",
                                     "--quiet",
                                     "--set",
                                     "data.dataset='" + ds + "'",
                                     "--set",
                                     "data.validation=200",
                                     "--set",
                                     "network.hidden=[2048]",
                                     "--set",
                                     "train.epochs=12",
                                     "--set",
                                     "train.threads=1",
                                     "--set",
                                     "train.seed=1",
                                     "--overwrite",
                                     "--out",
                                     out};
    const pid_t pid = spawn_cli(args);
    ASSERT_GT(pid, 0);
    // A random point of the run: data loading, an epoch, or writing the outputs.
    std::this_thread::sleep_for(
        std::chrono::milliseconds(rng.below(static_cast<std::uint64_t>(run_ms.count()) * 9 / 10 + 1)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) ++killed_mid_run;
    expect_complete_outputs(out);  // whatever the kill left is complete or absent
  }
  EXPECT_GE(killed_mid_run, 3) << "the kills must land inside the run (it takes " << run_ms.count() << " ms)";
  const CliRun rerun = run_cli(train_args(ds, out, 1, "[2048]", 12) + " --overwrite");
  ASSERT_EQ(rerun.code, 0) << rerun.output;
  EXPECT_EQ(read_bytes(out + "/model.safetensors"), read_bytes(dir / "ref/model.safetensors"));
  const auto a = nlohmann::json::parse(read_bytes(out + "/results.json"));
  const auto b = nlohmann::json::parse(read_bytes(dir / "ref/results.json"));
  EXPECT_EQ(a["metrics"], b["metrics"]);
  EXPECT_TRUE(temp_files(out).empty());
}

TEST(Faults, SecondProcessOnTheSameFolderIsRefused) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 600, 100);
  fs::create_directories(dir / "run");
  {
    const DirectoryLock held(dir / "run");
    const CliRun second = run_cli(train_args(ds, dir / "run"));
    EXPECT_EQ(second.code, 1) << second.output;
    EXPECT_TRUE(has(second.output, "in use by another dalenet process (pid " + std::to_string(::getpid()) + ")"))
        << second.output;
    EXPECT_FALSE(fs::exists(dir / "run/model.safetensors"));
  }
  // Released (as the kernel releases it when a holder dies): the same command now runs.
  EXPECT_EQ(run_cli(train_args(ds, dir / "run")).code, 0);
  // Two at once: whatever the interleaving, the folder ends up holding one complete run.
  const pid_t a = spawn_cli({"train", "--quiet", "--set", "data.dataset='" + ds + "'", "--set", "data.validation=100",
                             "--set", "network.hidden=[48]", "--overwrite", "--out", dir / "race"});
  const pid_t b = spawn_cli({"train", "--quiet", "--set", "data.dataset='" + ds + "'", "--set", "data.validation=100",
                             "--set", "network.hidden=[48]", "--overwrite", "--out", dir / "race"});
  int sa = 0, sb = 0;
  ::waitpid(a, &sa, 0);
  ::waitpid(b, &sb, 0);
  EXPECT_TRUE(WEXITSTATUS(sa) == 0 || WEXITSTATUS(sb) == 0);
  expect_complete_outputs(dir / "race");
}

TEST(Faults, UnusableDataCacheAndMissingDataGiveInstructions) {
  // A cache path that cannot be created, even by root (a path below a regular file).
  const CliRun fetch = run_cli("--data-dir /dev/null/cache data fetch fashion");
  EXPECT_NE(fetch.code, 0);
  EXPECT_TRUE(has(fetch.output, "/dev/null/cache")) << fetch.output;
  TempDir dir;
  const CliRun missing = run_cli("--data-dir " + (dir / "empty") + " eval --model x.safetensors");
  EXPECT_NE(missing.code, 0);
  const CliRun load = run_cli("--data-dir " + (dir / "empty") + " data info fashion:test");
  EXPECT_EQ(load.code, 1);
  EXPECT_TRUE(has(load.output, "dalenet data fetch")) << load.output;
}
