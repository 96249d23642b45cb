// Transfer (Papernot et al. 2017): PGD's last iterate on the source model (--transfer-from),
// without early stopping, tried on the attacked model. A black-box check: it fooling examples
// that the white-box attacks left standing points to gradient masking.
#include "../attack_internal.hpp"
#include "registry.hpp"

namespace dalenet::detail {

AttackInfo transfer_attack() {
  AttackInfo a;
  a.name = "transfer";
  a.cost_rank = 6;
  a.needs_source = true;
  a.run = [](const AttackCall& c, Eigen::MatrixXf& adv, PgdStats& /*restarts*/) {
    const PgdOptions p = pgd_options(c);  // one run, its last iterate: restarts do not apply
    adv = pgd_final_iterate_keyed(*c.transfer_source, c.x0, c.labels, p, c.keys);
    return clean_correct(c.model, adv, c.labels, c.opt.batch);
  };
  return a;
}

}  // namespace dalenet::detail
