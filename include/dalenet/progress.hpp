#pragma once
// What the progress displays of the commands share.
#include <string>

namespace dalenet {

// "42s", "3m07s", "2h05m"; "?" for a negative or NaN value (an ETA not known yet) or one over
// 10^7 s.
std::string format_duration(double seconds);

}  // namespace dalenet
