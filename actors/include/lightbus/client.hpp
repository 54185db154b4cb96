#pragma once

// The blocking bus client for programs that only call RPCs and fire events.
// No CAF header is reachable from here (compile.client_without_caf checks it):
// include <lightbus/lightbus.hpp> for the full API (bus modules, actors).

#include <memory>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "lightbus/bus_error.hpp"
#include "lightbus/config.hpp"
#include "lightbus/error.hpp"
#include "lightbus/event.hpp"
#include "lightbus/hooks.hpp"

namespace lightbus {

class bus;

/// A blocking bus client: `call` an RPC and wait for its result, `fire` an
/// event, from any thread.
///
/// ```cpp
/// auto c = lightbus::client::create();
/// auto ok = c.call("auth.check_password", {{"username", "admin"}, {"password", "secret"}});
/// c.fire("auth.user_registered", {{"username", "sally"}, {"email", "s@example.com"}});
/// c.close();
/// ```
/// Cheap to copy; copies share the connections and `close` closes them all.
class client {
public:
  // -- construction ----------------------------------------------------------

  /// A closed client: every call fails with `errc::shutting_down`.
  client() noexcept;
  ~client();
  client(const client&);
  client& operator=(const client&);
  client(client&&) noexcept;
  client& operator=(client&&) noexcept;

  /// Returns a client configured from `$LIGHTBUS_CONFIG`, else the defaults
  /// (`redis://127.0.0.1:6379/0`). Throws `bus_error` for a bad config file.
  static client create();

  /// Returns a client using `cfg`. It owns whatever it needs to run (its
  /// connections, and an actor system of its own if a hook or plugin needs
  /// one); `close` or the last copy's destructor ends them.
  static client create(lightbus::config cfg);

  /// Returns a client that uses `b` (a `lightbus::bus` of the full API, e.g.
  /// `module::client()` or a test kit's bus).
  static client wrap(const bus& b);

  // -- calls and events ------------------------------------------------------

  /// Calls `api.procedure` with `kwargs` and blocks until the result comes.
  /// Throws `bus_error`: `remote_error` when the procedure failed, `timeout`
  /// when no worker answered within `timeout_seconds` (default: the API's
  /// `rpc_timeout`), `shutting_down` after `close`.
  json call(std::string_view name, json kwargs = json::object(),
            std::optional<double> timeout_seconds = std::nullopt) const;

  /// As `call`, but returns the error instead of throwing.
  expected<json> try_call(std::string_view name, json kwargs = json::object(),
                          std::optional<double> timeout_seconds = std::nullopt) const;

  /// Fires `api.event` with `kwargs` (one XADD); returns the event with its
  /// stream id (`native_id`). Throws `bus_error`.
  event_message fire(std::string_view name, json kwargs = json::object()) const;

  /// As `fire`, but returns the error instead of throwing.
  expected<event_message> try_fire(std::string_view name, json kwargs = json::object()) const;

  // -- lifetime --------------------------------------------------------------

  /// Closes this client and its copies: later calls fail with
  /// `errc::shutting_down`. Calls in flight on other threads finish first;
  /// the connections (and the actor system, if any) end with the last of
  /// them. Closing twice does nothing.
  void close() noexcept;

  /// True after `close` (or for a default-constructed client).
  bool closed() const noexcept;

  // -- properties ------------------------------------------------------------

  /// The configuration in use. Throws `bus_error` (`shutting_down`) after `close`.
  const lightbus::config& config() const;

  /// The client's hooks (before/after_rpc_call, before/after_event_sent);
  /// add them before the first call. Throws `bus_error` after `close`.
  lightbus::hooks& hooks() const;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace lightbus
