#pragma once

// The test kit: unit-test services without Redis. `in_memory_bus` runs a
// module's APIs and listeners inside the test process; `bus_mock` stubs the
// bus for the code under test and records what it sent. See docs/testing.md.
// Link `lightbus::testing` and GoogleTest (`GTest::gmock`, `GTest::gtest_main`).

#include "lightbus/testing/bus_mock.hpp"
#include "lightbus/testing/in_memory_bus.hpp"
