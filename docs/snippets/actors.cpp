// Illustrates docs/actors.md: a procedure handler actor, an event handler
// actor that makes an RPC from actor code, and a supervised worker spawned by
// the program itself.
//
// Usage: lightbus-snippet-actors [REDIS_URL]
// Serves `warehouse`, calls it, fires `warehouse.restocked`, waits until the
// event handler actor has handled it, stops the worker. Exits 0 if all worked.

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>

#include <lightbus/lightbus.hpp>

using namespace std::chrono_literals;

namespace {

// [warehouse-api]
struct warehouse_api : lightbus::api {
  warehouse_api() : api("warehouse") {
    // No function: a handler actor serves it (see `handle` below).
    rpc<int(std::string)>("stock", {"sku"});
    event<std::string, int>("restocked", {"sku", "quantity"});
  }
};
// [warehouse-api]

// [procedure-handler]
// Serves warehouse.stock: gets (call_atom, procedure, kwargs), replies with
// JSON or an error. The worker spawns it, and spawns a fresh one if it dies.
caf::behavior stock_keeper(caf::event_based_actor*) {
  auto stock = std::make_shared<std::map<std::string, int>>(
    std::map<std::string, int>{{"sku-1", 12}, {"sku-2", 0}});
  return {
    [stock](lightbus::call_atom, const std::string& procedure,
            const lightbus::json& kwargs) -> caf::result<lightbus::json> {
      if (procedure != "stock")
        return lightbus::make_caf_error(
          lightbus::make_error(lightbus::errc::unknown_procedure, procedure));
      auto sku = kwargs.at("sku").get<std::string>();
      auto i = stock->find(sku);
      if (i == stock->end())
        // Ends this actor: the caller gets an error result with this text,
        // the worker restarts the actor, other calls never notice.
        throw std::runtime_error("unknown sku: " + sku);
      return lightbus::json(i->second);
    },
  };
}
// [procedure-handler]

/// What the auditor handled (the program waits for it).
struct audit_log {
  std::mutex mtx;
  std::condition_variable cv;
  std::set<std::string> event_ids;

  void add(const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx};
    event_ids.insert(id);
    cv.notify_all();
  }

  bool wait_for(const std::string& id, std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_for(guard, timeout, [&] { return event_ids.count(id) > 0; });
  }
};

// [event-handler]
// Handles warehouse.restocked: gets (event_atom, event_message). It asks the
// bus for the new stock level (an RPC from actor code: nothing blocks) and
// replies only then; the event is acknowledged after the reply, and an error
// reply counts as a failure (see listen_options::on_error).
caf::behavior restock_auditor(caf::event_based_actor* self, caf::actor bus_actor,
                              std::shared_ptr<audit_log> log) {
  return {
    [=](lightbus::event_atom, const lightbus::event_message& event) -> caf::result<bool> {
      auto rp = self->make_response_promise();
      lightbus::json kwargs = {{"sku", event.kwargs.at("sku")}};
      self
        ->request(bus_actor, 5s, lightbus::call_atom::value,
                  std::string("warehouse.stock"), kwargs)
        .then(
          [=](const lightbus::json& stock) mutable {
            std::cout << "audit: " << kwargs["sku"].get<std::string>() << " restocked, "
                      << stock.dump() << " in stock" << std::endl;
            log->add(event.id);
            rp.deliver(true);
          },
          [=](caf::error& err) mutable {
            // Failed: not acknowledged; retried, then dead-lettered.
            rp.deliver(std::move(err));
          });
      return rp;
    },
  };
}
// [event-handler]

} // namespace

int main(int argc, char** argv) {
  auto cfg = lightbus::config::load(); // $LIGHTBUS_CONFIG, else the defaults
  if (!cfg) {
    std::cerr << cfg.error().message << std::endl;
    return 78;
  }
  if (argc > 1)
    cfg->set_redis_url(argv[1]);
  auto log = std::make_shared<audit_log>();
  int failures = 0;
  {
    // [embedded-worker]
    caf::actor_system_config sys_cfg;
    lightbus::configure(sys_cfg); // error category, scheduler size
    caf::actor_system sys{sys_cfg};
    cfg->service_name("warehouse");
    cfg->process_name("warehouse-1");
    // A client whose actor lives in our actor system.
    auto bus = lightbus::create(sys, *cfg);

    lightbus::module mod;
    mod.serve<warehouse_api>().handle("stock", stock_keeper).max_in_flight(8);
    lightbus::listen_options opts;
    opts.since = "0";        // a new group starts at the beginning of the stream
    opts.max_in_flight = 20; // entries read but not yet acknowledged
    mod.listen(
      {"warehouse.restocked"}, "auditor",
      [bus, log](caf::event_based_actor* self) {
        return restock_auditor(self, bus.actor(), log);
      },
      opts);

    lightbus::worker_options wopts;
    wopts.max_in_flight = 32; // per API, unless served_api::max_in_flight says otherwise
    auto worker = lightbus::spawn_worker(sys, mod, *cfg, wopts);
    // [embedded-worker]

    try {
      auto stock = bus.call("warehouse.stock", {{"sku", "sku-1"}});
      std::cout << "warehouse.stock(sku-1) -> " << stock.dump() << std::endl;
      failures += stock == 12 ? 0 : 1;
      auto unknown = bus.try_call("warehouse.stock", {{"sku", "nope"}});
      std::cout << "warehouse.stock(nope) -> "
                << (unknown ? unknown->dump() : unknown.error().message) << std::endl;
      failures += unknown ? 1 : 0;
      auto event = bus.fire("warehouse.restocked", {{"sku", "sku-1"}, {"quantity", 5}});
      if (!log->wait_for(event.id, 20s)) {
        std::cerr << "the auditor did not handle event " << event.id << std::endl;
        ++failures;
      }
    } catch (const lightbus::bus_error& e) {
      std::cerr << "error: " << e.what() << std::endl;
      ++failures;
    }

    // [stop-worker]
    // Stops reading, lets calls and events in flight finish, flushes results.
    if (!lightbus::stop_worker(sys, worker, 5s))
      std::cerr << "the worker did not stop within 5 s" << std::endl;
    // [stop-worker]
  }
  return failures == 0 ? 0 : 1;
}
