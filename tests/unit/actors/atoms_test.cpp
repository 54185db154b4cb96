#include "lightbus/actors/atoms.hpp"

#include <optional>
#include <string>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "deterministic_fixture.hpp"

using lightbus::json;
using JsonResult = lightbus::test::deterministic_fixture;

namespace {

// Replies with `value` to every call, through caf::result<json>.
caf::behavior constant(caf::event_based_actor*, json value) {
  return {
    [value](lightbus::call_atom, const std::string&, const json&) -> caf::result<json> {
      return value;
    },
  };
}

} // namespace

TEST(Atoms, AtomsAreDistinct) {
  EXPECT_NE(caf::atom_value(lightbus::call_atom::value),
            caf::atom_value(lightbus::stop_atom::value));
}

TEST(JsonResultValue, NumberIsNotWrappedInAnArray) {
  caf::result<json> r{json(10.5)};
  ASSERT_EQ(r.flag, caf::rt_value);
  ASSERT_TRUE(r.value.match_elements<json>());
  auto& j = r.value.get_as<json>(0);
  EXPECT_TRUE(j.is_number_float());
  EXPECT_EQ(j, json(10.5));
}

TEST(JsonResultValue, ErrorIsAnError) {
  caf::result<json> r{lightbus::make_caf_error(
    lightbus::make_error(lightbus::errc::remote_error, "boom"))};
  EXPECT_EQ(r.flag, caf::rt_error);
  EXPECT_EQ(lightbus::from_caf_error(r.err).message, "boom");
}

TEST_F(JsonResult, ScalarsArriveAsTheyWereReturned) {
  for (auto value : {json(10.5), json(20.0), json(true), json("text"), json(nullptr),
                     json(42), json::array({1, 2}), json{{"k", 1}}}) {
    SCOPED_TRACE(value.dump());
    auto server = sys.spawn(constant, value);
    caf::scoped_actor self{sys};
    auto handle = self->request(server, caf::infinite, lightbus::call_atom::value,
                                std::string("get"), json::object());
    sched.run();
    std::optional<json> got;
    std::string failure;
    handle.receive([&](const json& j) { got = j; },
                   [&](caf::error& err) { failure = sys.render(err); });
    ASSERT_TRUE(got) << failure;
    EXPECT_EQ(*got, value);
    EXPECT_EQ(got->type(), value.type());
    caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
    sched.run();
  }
}
