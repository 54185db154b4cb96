// Stray messages: what an actor has no handler for never ends it.

#include <caf/all.hpp>

#include "internal.hpp"
#include "lightbus/logger.hpp"

namespace lightbus::detail {

namespace {

constexpr size_t max_logged_chars = 500;

// The first few strays are logged, then one in 1000: a flood of them must not
// flood the log too.
bool worth_logging(uint64_t n) {
  return n <= 5 || n % 1000 == 0;
}

std::string clipped(std::string text) {
  if (text.size() > max_logged_chars) {
    text.resize(max_logged_chars);
    text += "...";
  }
  return text;
}

} // namespace

void drop_strays(caf::scheduled_actor* self, std::string who) {
  auto count = std::make_shared<uint64_t>(0);
  auto log = logger("actors");
  self->set_default_handler(
    [who, count, log](caf::scheduled_actor* a, caf::message_view& x) -> caf::result<caf::message> {
      if (worth_logging(++*count))
        log->warn("{} dropped an unexpected message from {}: {} (stray #{}; it goes on; "
                  "report this as a bug of lightbus)",
                  who, a->current_sender() ? to_string(a->current_sender()) : "an anonymous sender",
                  clipped(to_string(x.content())), *count);
      // A request gets an error (its sender waits for an answer); anything
      // else gets no answer at all: an answer to a message that was only sent
      // would be a stray at its sender in turn.
      if (a->current_message_id().is_request())
        return caf::sec::unexpected_message;
      return caf::delegated<caf::message>{};
    });
  self->set_error_handler([who, count, log](caf::scheduled_actor*, caf::error& err) {
    if (worth_logging(++*count))
      log->warn("{} dropped an error answering a message it sent: {} (stray #{}; it goes on)",
                who, clipped(describe(err)), *count);
  });
}

} // namespace lightbus::detail
