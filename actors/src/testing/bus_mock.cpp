// The bus mock: stubs answer calls, allowed events pass, everything is kept.

#include "lightbus/testing/bus_mock.hpp"

#include <sstream>

#include <caf/all.hpp>

#include "../internal.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/engine/client_pipeline.hpp"

namespace lightbus::testing {

// -- stubs ---------------------------------------------------------------------------

call_stub& call_stub::returns(json value) {
  action_ = [value = std::move(value)](const json&) -> expected<json> { return value; };
  return *this;
}

call_stub& call_stub::fails(errc code, std::string message) {
  action_ = [code, message = std::move(message)](const json&) -> expected<json> {
    return make_error(code, message);
  };
  return *this;
}

call_stub& call_stub::invokes(std::function<json(const json&)> fn) {
  auto name = name_;
  action_ = [fn = std::move(fn), name](const json& kwargs) -> expected<json> {
    try {
      return fn(kwargs);
    } catch (const std::exception& e) {
      // What a Redis caller gets when the remote procedure raised.
      return make_error(errc::remote_error,
                        "Error while calling " + name + ": " + e.what());
    }
  };
  return *this;
}

call_stub& call_stub::times(size_t n) {
  expected_times_ = n;
  return *this;
}

event_stub& event_stub::times(size_t n) {
  expected_times_ = n;
  return *this;
}

namespace detail {

namespace {

/// True if `pattern` (`api.event` or `api.*`) covers `name`.
bool covers(const std::string& pattern, const std::string& api_name,
            const std::string& event_name) {
  auto dot = pattern.rfind('.');
  if (dot == std::string::npos || pattern.compare(0, dot, api_name) != 0
      || dot != api_name.size())
    return false;
  auto ev = std::string_view(pattern).substr(dot + 1);
  return ev == "*" || ev == event_name;
}

std::string explain(const kwargs_matcher& m) {
  std::ostringstream os;
  m.DescribeTo(&os);
  return os.str();
}

} // namespace

class mock_core : public lightbus::detail::bus_backend,
                  public std::enable_shared_from_this<mock_core> {
public:
  explicit mock_core(caf::actor_system& sys) : sys_(sys) {}

  call_stub& on_call(std::string name) {
    std::lock_guard<std::mutex> guard{mtx_};
    call_stubs_.emplace_back(new call_stub(std::move(name)));
    return *call_stubs_.back();
  }

  event_stub& event(std::string name, bool forbidden) {
    std::lock_guard<std::mutex> guard{mtx_};
    event_stubs_.emplace_back(new event_stub(std::move(name), forbidden));
    return *event_stubs_.back();
  }

  void allow_all(bool x) {
    std::lock_guard<std::mutex> guard{mtx_};
    allow_all_ = x;
  }

  expected<json> try_call(std::string_view name, json kwargs,
                          std::optional<double>) override {
    auto names = lightbus::engine::check_target(name, kwargs);
    if (!names)
      return names.error();
    if (kwargs.is_null())
      kwargs = json::object();
    std::function<expected<json>(const json&)> action;
    std::string full(name);
    {
      std::lock_guard<std::mutex> guard{mtx_};
      calls_.push_back(captured_call{full, kwargs});
      call_stub* hit = nullptr;
      for (auto i = call_stubs_.rbegin(); i != call_stubs_.rend(); ++i)
        if ((*i)->name_ == full && (*i)->matcher_.Matches(kwargs)) {
          hit = i->get();
          break;
        }
      if (hit == nullptr) {
        ADD_FAILURE() << "bus_mock: unexpected RPC " << full << " with kwargs "
                      << kwargs.dump() << stubs_of(full) << "\n  stub it: mock.on_call(\""
                      << full << "\").returns(...)";
        return make_error(errc::unknown_procedure,
                          "bus_mock: no stub matches " + full + " " + kwargs.dump());
      }
      ++hit->matched_;
      action = hit->action_;
    }
    // Outside the lock: the action may call the bus again.
    if (!action)
      return json(nullptr);
    return action(kwargs);
  }

  expected<event_message> try_fire(std::string_view name, json kwargs) override {
    auto names = lightbus::engine::check_target(name, kwargs);
    if (!names)
      return names.error();
    if (kwargs.is_null())
      kwargs = json::object();
    auto msg = make_event_message(names->first, names->second, std::move(kwargs));
    std::lock_guard<std::mutex> guard{mtx_};
    msg.native_id = std::to_string(fired_.size() + 1) + "-0";
    msg.stream = msg.api_name + ".*:stream";
    fired_.push_back(msg);
    auto full = msg.canonical_name();
    for (auto& s : event_stubs_)
      if (s->forbidden_ && covers(s->name_, msg.api_name, msg.event_name)) {
        ADD_FAILURE() << "bus_mock: forbidden event " << full << " fired with kwargs "
                      << msg.kwargs.dump();
        return make_error(errc::unknown_event,
                          "bus_mock: event " + full + " is forbidden");
      }
    for (auto i = event_stubs_.rbegin(); i != event_stubs_.rend(); ++i)
      if (!(*i)->forbidden_ && covers((*i)->name_, msg.api_name, msg.event_name)
          && (*i)->matcher_.Matches(msg.kwargs)) {
        ++(*i)->matched_;
        return msg;
      }
    if (allow_all_)
      return msg;
    ADD_FAILURE() << "bus_mock: unexpected event " << full << " with kwargs "
                  << msg.kwargs.dump() << "\n  allow it: mock.allow_event(\"" << full
                  << "\")";
    return make_error(errc::unknown_event, "bus_mock: event " + full + " "
                                               + msg.kwargs.dump() + " is not allowed");
  }

  caf::actor actor() override;

  void verify() {
    std::lock_guard<std::mutex> guard{mtx_};
    for (const auto& s : call_stubs_)
      if (s->expected_times_ && *s->expected_times_ != s->matched_)
        ADD_FAILURE() << "bus_mock: RPC " << s->name_ << " with kwargs that "
                      << explain(s->matcher_) << "\n  expected " << *s->expected_times_
                      << " call(s), got " << s->matched_ << calls_of(s->name_);
    for (const auto& s : event_stubs_)
      if (s->expected_times_ && *s->expected_times_ != s->matched_)
        ADD_FAILURE() << "bus_mock: event " << s->name_ << " with kwargs that "
                      << explain(s->matcher_) << "\n  expected " << *s->expected_times_
                      << " event(s), got " << s->matched_;
  }

  void close() {
    caf::actor a;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      closed_ = true;
      a = std::move(router_);
      router_ = nullptr;
      // Stub actions may hold clients of this bus.
      for (auto& s : call_stubs_)
        s->action_ = nullptr;
    }
    if (a)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

  std::vector<captured_call> calls() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return calls_;
  }

  std::vector<event_message> fired() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return fired_;
  }

private:
  /// Lists the stubs of `name` for a failure message. Called with `mtx_` held.
  std::string stubs_of(const std::string& name) const {
    std::string out;
    for (const auto& s : call_stubs_)
      if (s->name_ == name)
        out += "\n  a stub expects kwargs that " + explain(s->matcher_);
    return out;
  }

  std::string calls_of(const std::string& name) const {
    std::string out;
    for (const auto& c : calls_)
      if (c.name == name)
        out += "\n  called with " + c.kwargs.dump();
    return out;
  }

  caf::actor_system& sys_;
  mutable std::mutex mtx_;
  bool closed_ = false;
  bool allow_all_ = false;
  std::deque<std::unique_ptr<call_stub>> call_stubs_;
  std::deque<std::unique_ptr<event_stub>> event_stubs_;
  std::vector<captured_call> calls_;
  std::vector<event_message> fired_;
  caf::actor router_;
};

caf::actor mock_core::actor() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!router_ && !closed_) {
    auto core = shared_from_this();
    router_ = sys_.spawn([core](caf::event_based_actor*) -> caf::behavior {
      auto answer = [core](const std::string& name, json& kwargs) -> caf::result<json> {
        auto r = core->try_call(name, std::move(kwargs), std::nullopt);
        if (!r)
          return make_caf_error(r.error());
        return std::move(*r);
      };
      return {
          [answer](call_atom, const std::string& name,
                   json& kwargs) -> caf::result<json> { return answer(name, kwargs); },
          [answer](call_atom, const std::string& name, json& kwargs,
                   double) -> caf::result<json> { return answer(name, kwargs); },
          [core](fire_atom, const std::string& name,
                 json& kwargs) -> caf::result<event_message> {
            auto r = core->try_fire(name, std::move(kwargs));
            if (!r)
              return make_caf_error(r.error());
            return std::move(*r);
          },
      };
    });
  }
  return router_;
}

} // namespace detail

// -- bus_mock ------------------------------------------------------------------------

bus_mock::bus_mock(lightbus::config cfg) {
  own_cfg_ = std::make_unique<caf::actor_system_config>();
  configure(*own_cfg_);
  own_sys_ = std::make_unique<caf::actor_system>(*own_cfg_);
  sys_ = own_sys_.get();
  init(std::move(cfg));
}

bus_mock::bus_mock(caf::actor_system& sys, lightbus::config cfg) : sys_(&sys) {
  init(std::move(cfg));
}

bus_mock::~bus_mock() {
  verify();
  core_->close();
}

void bus_mock::init(lightbus::config cfg) {
  core_ = std::make_shared<detail::mock_core>(*sys_);
  bus_ = lightbus::detail::make_bus(core_, *sys_, std::move(cfg));
}

call_stub& bus_mock::on_call(std::string name) {
  return core_->on_call(std::move(name));
}

event_stub& bus_mock::allow_event(std::string name) {
  return core_->event(std::move(name), false);
}

void bus_mock::forbid_event(std::string name) {
  core_->event(std::move(name), true);
}

void bus_mock::allow_all_events(bool allow) {
  core_->allow_all(allow);
}

void bus_mock::verify() {
  if (verified_)
    return;
  verified_ = true;
  core_->verify();
}

lightbus::bus bus_mock::bus() const {
  return bus_;
}

std::vector<captured_call> bus_mock::calls() const {
  return core_->calls();
}

std::vector<json> bus_mock::calls(std::string_view name) const {
  std::vector<json> out;
  for (auto& c : core_->calls())
    if (c.name == name)
      out.push_back(std::move(c.kwargs));
  return out;
}

size_t bus_mock::call_count(std::string_view name) const {
  return calls(name).size();
}

size_t bus_mock::call_count(std::string_view name, const kwargs_matcher& m) const {
  size_t n = 0;
  for (const auto& k : calls(name))
    n += m.Matches(k) ? 1 : 0;
  return n;
}

std::vector<event_message> bus_mock::fired(std::string_view name) const {
  auto all = core_->fired();
  if (name.empty())
    return all;
  std::vector<event_message> out;
  for (auto& e : all)
    if (e.canonical_name() == name)
      out.push_back(std::move(e));
  return out;
}

size_t bus_mock::fire_count(std::string_view name) const {
  return fired(name).size();
}

size_t bus_mock::fire_count(std::string_view name, const kwargs_matcher& m) const {
  size_t n = 0;
  for (const auto& e : fired(name))
    n += m.Matches(e.kwargs) ? 1 : 0;
  return n;
}

} // namespace lightbus::testing
