// The test kit on the demo's real services: the four bus modules of
// apps/examples (built as .so for `lightbus run`) loaded into one in-memory
// bus. No Redis: the shop, auth, image and price monitor talk in process.

#include <dlfcn.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lightbus/actors/module.hpp"
#include "lightbus/testing.hpp"

using lightbus::json;

namespace {

/// Runs the LIGHTBUS_MODULE entry point of build/examples/<name>.so into `mod`.
void load_example(const std::string& name, lightbus::module& mod) {
  auto path = std::string(LIGHTBUS_EXAMPLES_DIR) + "/" + name + ".so";
  // Never dlclose()d: the module's APIs point into it.
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << ::dlerror();
  auto init = reinterpret_cast<void (*)(lightbus::module&)>(::dlsym(handle, "lightbus_module_init"));
  ASSERT_NE(init, nullptr) << path << " has no LIGHTBUS_MODULE";
  init(mod);
}

size_t count(const std::vector<lightbus::event_message>& events, const std::string& name) {
  size_t n = 0;
  for (const auto& e : events)
    n += e.canonical_name() == name ? 1 : 0;
  return n;
}

} // namespace

TEST(ExampleServicesInMemory, TheShopWorksWithoutRedis) {
  lightbus::module auth, image, price_monitor, shop;
  load_example("auth", auth);
  load_example("image", image);
  load_example("price_monitor", price_monitor);
  load_example("store", shop);
  lightbus::testing::in_memory_bus mem;
  for (auto* mod : {&auth, &image, &price_monitor, &shop})
    mem.add(*mod);
  auto bus = mem.bus();

  // Sign-up: accounts.register fires auth.user_registered through the auth
  // module's client; the shop's welcome-mail actor asks image.resize for a banner.
  EXPECT_EQ(bus.call("accounts.register", {{"username", "sally"},
                                           {"email", "sally@example.com"},
                                           {"password", "correct horse"}}),
            json(true));
  EXPECT_EQ(count(mem.fired(), "auth.user_registered"), 1u);
  EXPECT_EQ(bus.call("auth.check_password", {{"username", "sally"}, {"password", "correct horse"}}),
            json(true));
  auto again = bus.try_call("accounts.register", {{"username", "sally"},
                                                  {"email", "sally@example.com"},
                                                  {"password", "correct horse"}});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, lightbus::errc::remote_error);

  auto resized = bus.call("image.resize", {{"image_id", "sku-1"}, {"width", 32}, {"height", 16}});
  EXPECT_EQ(resized.at("width"), 32);
  EXPECT_EQ(resized.at("height"), 16);

  // The price monitor's task fires competitor prices; the shop's price matcher
  // (a handler actor) follows them and announces its new prices.
  auto before = mem.fired().size();
  for (int i = 0; i < 12 && count(mem.fired(), "store.price_changed") == 0; ++i)
    mem.run_task("watch_competitor");
  ASSERT_GT(mem.fired().size(), before);
  auto fired = mem.fired();
  const lightbus::event_message* change = nullptr;
  for (const auto& e : fired)
    if (e.canonical_name() == "store.price_changed")
      change = &e;
  ASSERT_NE(change, nullptr) << "the shop never changed a price";
  EXPECT_EQ(bus.call("store.get_price", {{"sku", change->kwargs.at("sku")}}),
            change->kwargs.at("price"));
  EXPECT_TRUE(mem.failures().empty()) << mem.failures().front().reason;
}
