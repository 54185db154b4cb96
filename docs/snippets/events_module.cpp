// The listener of docs/events.md (built as build/snippets/events_listener.so).
#include <lightbus/lightbus.hpp>
#include <lightbus/logger.hpp>

namespace {

void send_mail(const lightbus::json& address) {
  lightbus::logger("mail")->info("welcome mail to {}", address.dump());
}

} // namespace

// [listener-module]
LIGHTBUS_MODULE(bus) {
  bus.listen({"auth.user_registered"}, "send_signup_email",
             [](const lightbus::event_message& m) { send_mail(m.kwargs.at("email")); });
}
// [listener-module]
