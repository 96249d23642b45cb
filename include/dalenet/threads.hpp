#pragma once
// Thread count for all parallel kernels (Eigen's GEMM via OpenMP). Results are bit-identical
// across runs for a fixed thread count; they may differ in the last bits between counts.
namespace dalenet {
int hardware_threads();
// n <= 0: all hardware threads. Returns the count in effect.
int set_threads(int n);
int current_threads();
}  // namespace dalenet
