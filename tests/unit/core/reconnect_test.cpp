#include "lightbus/reconnect.hpp"

#include <gtest/gtest.h>

using lightbus::errc;
using lightbus::failure_action;
using lightbus::make_error;
using lightbus::worker_failure_action;
using lightbus::worker_phase;

namespace {

failure_action action(errc code, worker_phase phase) {
  return worker_failure_action(make_error(code, "x"), phase);
}

} // namespace

TEST(WorkerFailureAction, RefusedCredentialsStopAWorkerThatIsStarting) {
  EXPECT_EQ(action(errc::invalid_config, worker_phase::starting), failure_action::stop_worker);
}

TEST(WorkerFailureAction, RefusedCredentialsKeepARunningWorkerRetryingAtTheLongestBackOff) {
  EXPECT_EQ(action(errc::invalid_config, worker_phase::running),
            failure_action::retry_at_longest);
}

TEST(WorkerFailureAction, FailuresThatMayPassAreRetriedInEitherPhase) {
  for (auto phase : {worker_phase::starting, worker_phase::running})
    for (auto code : {errc::connection_failed, errc::timeout, errc::unavailable}) {
      SCOPED_TRACE(lightbus::to_string(code));
      EXPECT_EQ(action(code, phase), failure_action::retry);
    }
}

TEST(WorkerFailureAction, OtherErrorsAreTheOperationsOwn) {
  for (auto phase : {worker_phase::starting, worker_phase::running})
    for (auto code : {errc::redis_error, errc::nogroup, errc::invalid_message,
                      errc::shutting_down}) {
      SCOPED_TRACE(lightbus::to_string(code));
      EXPECT_EQ(action(code, phase), failure_action::give_up);
    }
}

TEST(WorkerFailureAction, ActionsHaveNames) {
  EXPECT_STREQ(lightbus::to_string(failure_action::retry_at_longest), "retry_at_longest");
  EXPECT_STREQ(lightbus::to_string(failure_action::stop_worker), "stop_worker");
}
