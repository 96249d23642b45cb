// The fast gradient sign method (Goodfellow et al. 2015): one step of size eps from the clean
// point along the sign of the cross-entropy's input gradient (the unit gradient for L2). In the
// carried ladder it runs after PGD, on PGD's survivors: an example it fools there is one that PGD
// missed (the iterative_weaker_than_fgsm flag).
#include "../attack_internal.hpp"
#include "registry.hpp"

namespace dalenet::detail {

AttackInfo fgsm_attack() {
  AttackInfo a;
  a.name = "fgsm";
  a.cost_rank = 5;
  a.white_box = a.in_default_ladder = true;
  a.run = [](const AttackCall& c, Eigen::MatrixXf& adv, PgdStats& /*restarts*/) {
    PgdOptions p = pgd_options(c);
    p.steps = 1;
    p.restarts = 1;
    p.step_factor = 1.0;  // one step of size eps from the clean point
    p.random_start = false;
    return pgd_attack_keyed(c.model, c.x0, c.labels, p, c.keys, adv);
  };
  return a;
}

}  // namespace dalenet::detail
