// The in-memory bus: a module's APIs and listeners served inside the process
// (the test kit). The work is the core's (in_memory_core.cpp, the blocking
// path) and the router's (in_memory_router.cpp, `bus.actor()`).

#include "lightbus/testing/in_memory_bus.hpp"

#include "in_memory_core.hpp"

namespace lightbus::testing {

in_memory_bus::in_memory_bus(in_memory_options opts) {
  own_cfg_ = std::make_unique<caf::actor_system_config>();
  configure(*own_cfg_);
  own_sys_ = std::make_unique<caf::actor_system>(*own_cfg_);
  sys_ = own_sys_.get();
  init(std::move(opts));
}

in_memory_bus::in_memory_bus(const module& mod, in_memory_options opts)
    : in_memory_bus(std::move(opts)) {
  add(mod);
}

in_memory_bus::in_memory_bus(caf::actor_system& sys, const module& mod,
                             in_memory_options opts)
    : sys_(&sys) {
  init(std::move(opts));
  add(mod);
}

in_memory_bus::~in_memory_bus() {
  core_->close();
}

void in_memory_bus::init(in_memory_options opts) {
  auto cfg = opts.cfg;
  core_ = std::make_shared<detail::in_memory_core>(*sys_, std::move(opts));
  bus_ = lightbus::detail::make_bus(core_, *sys_, std::move(cfg));
  // The bus's hooks (bus.hooks()) are the client's, as for a Redis client.
  auto hooks = std::make_shared<lightbus::hooks>();
  bus_.use_hooks(hooks);
  core_->client_hooks(std::move(hooks));
}

void in_memory_bus::add(const module& mod) {
  core_->add(mod);
  // The module's handlers reach this bus through `mod.client()`, as they
  // would reach their worker's.
  lightbus::detail::bind_bus(mod.client(), core_, *sys_, bus_.config());
}

void in_memory_bus::run_task(std::string_view name) {
  auto fn = core_->task(name);
  fn(bus_);
}

lightbus::bus in_memory_bus::bus() const {
  return bus_;
}

std::vector<event_message> in_memory_bus::fired() const {
  return core_->fired();
}

std::vector<listener_failure> in_memory_bus::failures() const {
  return core_->failures();
}

} // namespace lightbus::testing
