#pragma once

// Actor tests on CAF's deterministic scheduler: no threads, no sleeps. Send,
// `sched.run()`, then read the reply with a `caf::scoped_actor`.

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "lightbus/actors/errors.hpp"

namespace lightbus::test {

struct deterministic_fixture : ::testing::Test {
  static caf::actor_system_config& init(caf::actor_system_config& cfg) {
    lightbus::configure(cfg);
    cfg.set("scheduler.policy", caf::atom("testing"));
    return cfg;
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{init(cfg)};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
};

} // namespace lightbus::test
