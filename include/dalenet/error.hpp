#pragma once
// One exception hierarchy for the whole library; the CLI maps it to exit codes and the Python
// bindings map each class to an exception of the same name. Messages carry context:
// the file, key, shape or value that was wrong.
#include <stdexcept>
#include <string>

namespace dalenet {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// A data file is missing, corrupt, truncated, of the wrong kind or fails its hash.
class DataError : public Error {
 public:
  using Error::Error;
};
// A configuration key is unknown, mistyped or out of range.
class ConfigError : public Error {
 public:
  using Error::Error;
};
// A model file is corrupt, truncated or inconsistent.
class ModelFileError : public Error {
 public:
  using Error::Error;
};
// Arrays passed across the API have the wrong shape, or contain NaN/Inf where not allowed.
class InputError : public Error {
 public:
  using Error::Error;
};
// Training produced a NaN/Inf loss or weight.
class DivergenceError : public Error {
 public:
  using Error::Error;
};
// Writing an output failed (disk full, permissions, ...).
class IoError : public Error {
 public:
  using Error::Error;
};

}  // namespace dalenet
