#include "lightbus/actors/errors.hpp"

#include <optional>
#include <string>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "deterministic_fixture.hpp"
#include "lightbus/actors/atoms.hpp"

using lightbus::errc;
using ErrorMapping = lightbus::test::deterministic_fixture;

TEST(Errors, MakeCafErrorRoundTripsEveryCode) {
  for (auto code : {errc::invalid_message, errc::invalid_parameters, errc::unknown_api,
                    errc::unknown_procedure, errc::remote_error, errc::timeout,
                    errc::connection_failed, errc::redis_error, errc::invalid_config,
                    errc::handler_failed, errc::shutting_down, errc::module_error,
                    errc::nogroup, errc::unavailable}) {
    SCOPED_TRACE(lightbus::to_string(code));
    auto err = lightbus::make_caf_error(lightbus::make_error(code, "what happened"));
    EXPECT_EQ(err.category(), caf::atom("lightbus"));
    auto back = lightbus::from_caf_error(err);
    EXPECT_EQ(back.code, code);
    EXPECT_EQ(back.message, "what happened");
  }
}

TEST(Errors, EmptyMessageSurvivesTheRoundTrip) {
  auto back = lightbus::from_caf_error(
    lightbus::make_caf_error(lightbus::make_error(errc::timeout, "")));
  EXPECT_EQ(back.code, errc::timeout);
  EXPECT_EQ(back.message, "");
}

TEST(Errors, CafRequestTimeoutBecomesTimeout) {
  auto back = lightbus::from_caf_error(caf::make_error(caf::sec::request_timeout));
  EXPECT_EQ(back.code, errc::timeout);
}

TEST(Errors, OtherCafErrorsBecomeHandlerFailedWithCafsDescription) {
  auto back = lightbus::from_caf_error(caf::make_error(caf::sec::request_receiver_down));
  EXPECT_EQ(back.code, errc::handler_failed);
  EXPECT_EQ(back.message, "request_receiver_down");
}

TEST_F(ErrorMapping, ConfigureRegistersTheLightbusCategoryForRendering) {
  auto err = lightbus::make_caf_error(lightbus::make_error(errc::timeout, "no result"));
  EXPECT_EQ(sys.render(err), "timeout: no result");
}

TEST_F(ErrorMapping, ErrorReplyOfAnActorArrivesAsLightbusError) {
  auto server = sys.spawn([]() -> caf::behavior {
    return {
      [](lightbus::call_atom, const std::string& proc, const lightbus::json&)
        -> caf::result<lightbus::json> {
        return lightbus::make_caf_error(
          lightbus::make_error(errc::unknown_procedure, "no procedure " + proc));
      },
    };
  });
  caf::scoped_actor self{sys};
  auto handle = self->request(server, caf::infinite, lightbus::call_atom::value,
                              std::string("nope"), lightbus::json::object());
  sched.run();
  std::optional<lightbus::error> got;
  handle.receive([](const lightbus::json&) {},
                 [&](caf::error& err) { got = lightbus::from_caf_error(err); });
  ASSERT_TRUE(got) << "the actor replied with a value";
  EXPECT_EQ(got->code, errc::unknown_procedure);
  EXPECT_EQ(got->message, "no procedure nope");
  caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
  sched.run();
}
