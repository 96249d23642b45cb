#pragma once
// Factories of the gradient-based rules (internal; reached through the registry).
#include <memory>

#include "dalenet/rule.hpp"

namespace dalenet::rules {
std::unique_ptr<LearningRule> make_backprop(const RuleConfig& cfg);
std::unique_ptr<LearningRule> make_backprop_bio_architecture(const RuleConfig& cfg);
std::unique_ptr<LearningRule> make_sign_constrained_backprop(const RuleConfig& cfg);
std::unique_ptr<LearningRule> make_exponentiated_gradient(const RuleConfig& cfg);
std::unique_ptr<LearningRule> make_bio(const RuleConfig& cfg);
}  // namespace dalenet::rules
