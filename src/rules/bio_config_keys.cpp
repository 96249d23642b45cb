// The [bio] section's keys (docs/RULE.md): declared here, beside the bio rule, and read and
// written by the train config's schema (src/io/config_schema.hpp).
#include "dalenet/rule.hpp"
#include "io/config_schema.hpp"

namespace dalenet::config_key_defs {

// A data table: one entry per key.
void add_bio_keys(KeyTable& keys) {  // NOLINT(readability-function-size)
  const KeyTable bio = {
      {"bio.hidden_update",
       enum_key(
           "multiplicative (H3) | additive (H3a) | mean (H3m, towards the mean input) | kmeans (the k-means "
           "control: mini-batch k-means prototypes, no Hebbian rule)",
           [](auto& c) -> auto& { return c.rule.bio.hidden_update; }, kHiddenUpdateNames)},
      {"bio.signed_hebbian",
       enum_key(
           "mixed-sign starts: H3 on |w| whatever the sign (magnitude) | on the signed efficacy (efficacy)",
           [](auto& c) -> auto& { return c.rule.bio.signed_hebbian; }, kSignedHebbianNames)},
      {"bio.hidden_modulation",
       enum_key(
           "H3r: none (label-blind hidden plasticity) | reward (a global right/wrong scalar per example gates H3)",
           [](auto& c) -> auto& { return c.rule.bio.hidden_modulation; }, kHiddenModulationNames)},
      {"bio.reward_punish", double_key(
                                "H3r: the scalar of a wrong answer is -reward_punish, [0, 10]",
                                [](auto& c) -> auto& { return c.rule.bio.reward_punish; }, 0.0, 10.0, false)},
      {"bio.hebbian_exponent",
       double_key(
           "H3p: H3's postsynaptic factor is y_j^p / sum_k y_k^p with p = hebbian_exponent, [1, 1000]",
           [](auto& c) -> auto& { return c.rule.bio.hebbian_exponent; }, 1.0, 1000.0, false)},
      {"bio.hebbian_anneal",
       bool_key(
           "H3p annealed: the exponent rises linearly from 1 (first plastic epoch) to hebbian_exponent (last)",
           [](auto& c) -> auto& { return c.rule.bio.hebbian_anneal; })},
      {"bio.eta_hidden",
       double_key(
           "hidden plasticity rate, > 0", [](auto& c) -> auto& { return c.rule.bio.eta_hidden; }, 0.0, 10.0, true)},
      {"bio.competition", enum_key(
                              "feedback_inhibition (interneurons) | kwta (fixed k-WTA ablation)",
                              [](auto& c) -> auto& { return c.rule.bio.competition; }, kBioCompetitionNames)},
      {"bio.inhibition_gain", double_key(
                                  "gain of the E->I->E feedback loop, > 0",
                                  [](auto& c) -> auto& { return c.rule.bio.inhibition_gain; }, 0.0, 1e6, true)},
      {"bio.kwta_k",
       int_key(
           "winners of the kwta ablation", [](auto& c) -> auto& { return c.rule.bio.kwta_k; }, 1, 1 << 20)},
      {"bio.divisive", bool_key(
                           "H2b: divide the hidden rates sent to the output by their sum (divisive normalisation)",
                           [](auto& c) -> auto& { return c.rule.bio.divisive; })},
      {"bio.silence_factor", double_key(
                                 "efficacy floor (and silence threshold) = silence_factor / fan_in",
                                 [](auto& c) -> auto& { return c.rule.bio.silence_factor; }, 0.0, 1.0, true)},
      {"bio.homeostasis",
       bool_key(
           "homeostatic thresholds on/off", [](auto& c) -> auto& { return c.rule.bio.homeostasis; })},
      {"bio.homeostasis_rate",
       double_key(
           "beta of the threshold update", [](auto& c) -> auto& { return c.rule.bio.homeostasis_rate; }, 0.0, 100.0)},
      {"bio.rate_decay", double_key(
                             "alpha of the running rate, (0, 1]",
                             [](auto& c) -> auto& { return c.rule.bio.rate_decay; }, 0.0, 1.0, true)},
      {"bio.structural", bool_key(
                             "structural plasticity on/off", [](auto& c) -> auto& { return c.rule.bio.structural; })},
      {"bio.regrowth", double_key(
                           "probability per silent synapse per structural step",
                           [](auto& c) -> auto& { return c.rule.bio.regrowth; }, 0.0, 1.0)},
      {"bio.structural_interval", int_key(
                                      "batches between structural steps",
                                      [](auto& c) -> auto& { return c.rule.bio.structural_interval; }, 1, 1 << 30)},
      {"bio.readout_epochs",
       int_key(
           "O1c: the last readout_epochs of train.epochs train the output rule alone (hidden plasticity off); "
           "at most train.epochs - 1",
           [](auto& c) -> auto& { return c.rule.bio.readout_epochs; }, 0, 100000)},
      {"bio.output_in_plastic_phase",
       bool_key(
           "O1c: the output rule also learns in the plastic epochs (false: only in the readout phase, "
           "from its initial weights; needs bio.readout_epochs > 0)",
           [](auto& c) -> auto& { return c.rule.bio.output_in_plastic_phase; })},
      {"bio.hidden_plasticity",
       bool_key(
           "H3, H4 and H5 on/off. false: the random-features control (docs/RULE.md): the hidden layer keeps its "
           "initial random draw and only the output rule learns, in every epoch",
           [](auto& c) -> auto& { return c.rule.bio.hidden_plasticity; })},
      {"bio.initial_density",
       double_key(
           "fraction of the potential input -> hidden synapses present at the start, each drawn independently "
           "(the others absent); 1: all",
           [](auto& c) -> auto& { return c.rule.bio.initial_density; }, 0.0, 1.0, true)},
      {"bio.window",
       int_key(
           "H6: side of each excitatory hidden neuron's square receptive field on the (square) input image; "
           "the neurons are shared out equally among the windows (0: full field)",
           [](auto& c) -> auto& { return c.rule.bio.window; }, 0, 1 << 12)},
      {"bio.window_stride", int_key(
                                "H6: pitch of the grid of window corners, in pixels",
                                [](auto& c) -> auto& { return c.rule.bio.window_stride; }, 1, 1 << 12)},
      {"bio.local_inhibition",
       bool_key(
           "H6b: each window's neurons compete among themselves (one interneuron pool per window) instead of "
           "across the layer (needs bio.window > 0)",
           [](auto& c) -> auto& { return c.rule.bio.local_inhibition; })},
      {"bio.commitment",
       bool_key(
           "D1-D5: presynaptic transmitter commitment on the plastic projections (docs/RULE.md): each "
           "presynaptic neuron's + synapses act at a_i, its - synapses at 1 - a_i, a_i moved by a replicator "
           "step on their utilities (needs bio.output_rule = delta)",
           [](auto& c) -> auto& { return c.rule.bio.commitment; })},
      {"bio.commitment_gamma",
       double_key(
           "D3: replicator exponent g; > 1 makes the 50/50 state unstable, 1 follows the utility ratio only",
           [](auto& c) -> auto& { return c.rule.bio.commitment_gamma; }, 0.0, 100.0, true)},
      {"bio.commitment_interval", int_key(
                                      "D3: batches between replicator steps (utilities summed over them)",
                                      [](auto& c) -> auto& { return c.rule.bio.commitment_interval; }, 1, 1 << 30)},
      {"bio.commitment_noise", double_key(
                                   "D1: a_i starts at 1/2 + noise * U(-1, 1), [0, 0.49]",
                                   [](auto& c) -> auto& { return c.rule.bio.commitment_noise; }, 0.0, 0.49)},
      {"bio.commitment_regrowth",
       double_key(
           "D5: probability per silent site per replicator step that a synapse regrows (sign + with probability "
           "a_i), [0, 1]",
           [](auto& c) -> auto& { return c.rule.bio.commitment_regrowth; }, 0.0, 1.0)},
      {"bio.commitment_regrowth_size",
       double_key(
           "D5: a regrown synapse's size relative to the mean size of its postsynaptic neuron's synapses, > 0",
           [](auto& c) -> auto& { return c.rule.bio.commitment_regrowth_size; }, 0.0, 100.0, true)},
      {"bio.output_rule", enum_key(
                              "delta (O1, three-factor) | perturbation (O2, Hebbian + weight perturbation)",
                              [](auto& c) -> auto& { return c.rule.bio.output_rule; }, kOutputRuleNames)},
      {"bio.eta_output",
       double_key(
           "output plasticity rate, > 0", [](auto& c) -> auto& { return c.rule.bio.eta_output; }, 0.0, 100.0, true)},
      {"bio.perturbation_sigma", double_key(
                                     "O2: size of the multiplicative weight perturbation",
                                     [](auto& c) -> auto& { return c.rule.bio.perturbation_sigma; }, 0.0, 10.0, true)},
      {"bio.eta_hebbian", double_key(
                              "O2: rate of the label-gated Hebbian term",
                              [](auto& c) -> auto& { return c.rule.bio.eta_hebbian; }, 0.0, 100.0)},
  };
  keys.insert(bio.begin(), bio.end());
}

}  // namespace dalenet::config_key_defs
