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
// on the input projection (floor bio.silence_factor / potential fan-in), the interneurons' fixed
// place in the E -> I -> E loop: no feedforward input, no output synapse (masked and zeroed), and
// with bio.window > 0 H6's receptive fields (synapses outside them masked and zeroed) and H6b's
// local pools (bio.local_inhibition). Biases are zeroed. Returns the number of excitatory hidden
// units. `rule` names the rule in errors.
Eigen::Index prepare_bio_architecture(Network& net, const BioConfig& cfg, const std::string& rule);

// ConfigError unless cfg.competition is one a bio-rule hidden layer may have (kBioCompetitionNames;
// the config reader accepts no other, but a RuleConfig built in code might hold Competition::none).
void check_bio_competition(const BioConfig& cfg);

// H6's windows for `inputs` pixels (a square image) shared out over n_exc neurons; a ConfigError
// names the keys when the image is not square, the window too large or the share unequal.
ReceptiveFields receptive_fields(const BioConfig& cfg, Eigen::Index inputs, Eigen::Index n_exc);

}  // namespace dalenet::rules
