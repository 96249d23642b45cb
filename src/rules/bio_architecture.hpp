#pragma once
// The bio arm's forward pass, apart from its learning rule (internal). The bio rule and the
// architecture control (rule bp_arch: backprop through this same forward pass,
// docs/EVALUATION.md) both set their network up with it, so that the control shares everything
// but the rule.
#include <string>

#include "dalenet/network.hpp"
#include "dalenet/rule.hpp"

namespace dalenet::rules {

// Sets up the one-hidden-layer network `net` as the bio arm runs it: H2's competition among the
// hidden units (bio.competition, inhibition_gain, kwta_k, divisive), H1's log-normalised efficacy
// on the input projection (floor bio.silence_factor / fan-in), and the interneurons' fixed place
// in the E -> I -> E loop: no feedforward input, no output synapse (masked and zeroed). Biases
// are zeroed. Returns the number of excitatory hidden units. `rule` names the rule in errors.
Eigen::Index prepare_bio_architecture(Network& net, const BioConfig& cfg, const std::string& rule);

}  // namespace dalenet::rules
