// `lightbus dashboard` in a real headless Chromium (Debian's `chromium`),
// driven over the DevTools protocol: the page loads with no console error,
// shows a running worker and its group's lag, and firing an event from the
// page reaches the worker. Skipped only when chromium is not installed
// (scripts/deps installs it, so CI always runs it).
//
// LIGHTBUS_DASHBOARD_SCREENSHOT=FILE also saves a PNG of the page (how
// docs/images/dashboard.png is made).

#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>

#include <gmock/gmock.h>

#include "cdp_client.hpp"
#include "dashboard_support.hpp"

namespace lightbus::test {
namespace {

using nlohmann::json;

std::string find_chromium() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"})
    for (const char* name : {"chromium", "chromium-browser"}) {
      auto path = std::string(dir) + "/" + name;
      if (::access(path.c_str(), X_OK) == 0)
        return path;
    }
  return {};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string base64_decode(const std::string& in) {
  static const std::string chars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0;
  int bits = -8;
  for (char c : in) {
    auto pos = chars.find(c);
    if (pos == std::string::npos)
      continue; // '=' and line breaks
    val = (val << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out += static_cast<char>((val >> bits) & 0xff);
      bits -= 8;
    }
  }
  return out;
}

class DashboardBrowser : public cli_fixture {};

TEST_F(DashboardBrowser, PageShowsARunningWorkerAndItsLagAndFiresAnEvent) {
  auto chromium = find_chromium();
  if (chromium.empty())
    GTEST_SKIP() << "chromium is not installed (scripts/deps installs it)";
  temp_dir dir;
  auto config = write_state_config(dir.path(), 1);
  auto handled = dir.path() + "/handled";
  auto& worker = run_worker(LIGHTBUS_TEST_SLOW_MODULE,
                            {"--service-name", "web", "--config", config},
                            {{"LIGHTBUS_TEST_HANDLED", handled}});
  processes_.push_back(std::make_unique<child_process>(std::vector<std::string>{
    lightbus_binary(), "dashboard", "--port", "0", "--redis", url(), "--config", config}));
  auto& dash = *processes_.back();
  int port = wait_for_port(dash, "lightbus dashboard: ");
  ASSERT_NE(port, 0) << dash.err();
  // A group that has read nothing yet, so the page has a lag to show.
  auto conn = connect(url());
  ASSERT_TRUE(wait_until([&] { return has_consumer_group(conn, "slow.*:stream"); }, 15s))
    << worker.err();
  for (int n : {1, 2}) {
    auto r = run_command({lightbus_binary(), "fire", "slow.stuck",
                          "{\"n\": " + std::to_string(n) + "}", "--redis", url()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  ASSERT_TRUE(wait_until([&] { return read_file(handled) == "1\n2\n"; }, 15s)) << worker.err();
  command(conn, {"XGROUP", "CREATE", "slow.*:stream", "web-idle", "0"});

  auto profile = dir.path() + "/chromium";
  ::mkdir(profile.c_str(), 0700);
  processes_.push_back(std::make_unique<child_process>(std::vector<std::string>{
    chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
    "--user-data-dir=" + profile, "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0", "--window-size=1400,1500", "about:blank"}));
  auto& browser = *processes_.back();
  int devtools = 0;
  ASSERT_TRUE(wait_until(
    [&] {
      std::istringstream in(read_file(profile + "/DevToolsActivePort"));
      in >> devtools;
      return devtools > 0 || !browser.running();
    },
    30s))
    << browser.err();
  ASSERT_GT(devtools, 0) << browser.err();
  std::string page_ws;
  ASSERT_TRUE(wait_until(
    [&] {
      auto targets = http_get(devtools, "/json/list").json();
      for (const auto& t : targets.is_array() ? targets : json::array())
        if (t.value("type", "") == "page")
          page_ws = t.value("webSocketDebuggerUrl", "");
      return !page_ws.empty();
    },
    15s));
  auto path = page_ws.substr(page_ws.find("/devtools/"));
  cdp_client cdp(devtools, path);
  cdp.call("Runtime.enable");
  cdp.call("Log.enable");
  cdp.call("Page.enable");
  cdp.call("Page.navigate", {{"url", "http://127.0.0.1:" + std::to_string(port) + "/"}});

  // The page polls every 2 s: wait for the worker and the groups.
  auto shown = [&](const std::string& selector) {
    return cdp.evaluate("document.querySelector('" + selector + "') !== null").get<bool>();
  };
  ASSERT_TRUE(wait_until(
    [&] {
      return shown("#workers tr[data-state=\"running\"]")
             && shown("#streams tr[data-group=\"web-stuck\"]")
             && shown("#streams tr[data-group=\"web-idle\"]");
    },
    20s))
    << cdp.evaluate("document.body.innerText").dump() << dash.err();
  EXPECT_THAT(cdp.evaluate("document.querySelector('#workers tr[data-state=\"running\"]').innerText")
                .get<std::string>(),
              testing::HasSubstr("slow.stuck"));
  auto api_lag = [&] {
    auto streams = http_get(port, "/api/streams").json();
    for (const auto& s : streams)
      for (const auto& g : s["groups"])
        if (g["name"] == "web-idle")
          return g["lag"].get<long long>();
    return -1LL;
  };
  EXPECT_GE(api_lag(), 2);
  EXPECT_EQ(cdp.evaluate("document.querySelector('#streams tr[data-group=\"web-stuck\"] a[data-dl]')"
                         ".textContent")
              .get<std::string>(),
            "0")
    << "no dead letters";
  EXPECT_EQ(cdp.evaluate("document.querySelector('#streams tr[data-group=\"web-idle\"] .lag')"
                         ".textContent")
              .get<std::string>(),
            std::to_string(api_lag()));
  EXPECT_EQ(cdp.evaluate("document.querySelector('#streams tr[data-group=\"web-stuck\"]')"
                         ".dataset.lag")
              .get<std::string>(),
            "0");
  EXPECT_EQ(cdp.evaluate("typeof window.Chart").get<std::string>(), "function")
    << "Chart.js is served from /static/chart.js (libjs-chart.js)";

  // An action: fire an event from the form.
  cdp.evaluate("document.getElementById('fire-name').value = 'slow.stuck';"
               "document.getElementById('fire-kwargs').value = '{\"n\": 42}';"
               "document.getElementById('fire-submit').click(); true");
  ASSERT_TRUE(wait_until(
    [&] { return cdp.evaluate("document.getElementById('fire-result').dataset.ok || ''") == "1"; },
    10s))
    << cdp.evaluate("document.getElementById('fire-result').textContent").dump();
  EXPECT_TRUE(wait_until([&] { return read_file(handled) == "1\n2\n42\n"; }, 10s))
    << worker.err();
  if (auto shot = std::getenv("LIGHTBUS_DASHBOARD_SCREENSHOT"); shot && *shot) {
    // Let a few readings draw the chart first.
    std::this_thread::sleep_for(6s);
    auto png = cdp.call("Page.captureScreenshot", {{"format", "png"}});
    std::ofstream{shot, std::ios::binary} << base64_decode(png["data"].get<std::string>());
  }

  // Let the page poll a few more times, then look at what it logged.
  std::this_thread::sleep_for(3s);
  cdp.evaluate("1"); // reads the events that arrived meanwhile
  EXPECT_EQ(cdp.errors(), std::vector<std::string>{});
  EXPECT_EQ(cdp.evaluate("document.getElementById('page-errors').dataset.count"), "0")
    << cdp.evaluate("document.getElementById('page-errors').textContent").dump();

  // A refused action shows its error on the page; the browser logs the 400
  // (and nothing else).
  auto before = cdp.errors().size();
  cdp.evaluate("document.getElementById('fire-name').value = 'slow.nope';"
               "document.getElementById('fire-submit').click(); true");
  ASSERT_TRUE(wait_until(
    [&] { return cdp.evaluate("document.getElementById('fire-result').dataset.ok || ''") == "0"; },
    10s));
  EXPECT_THAT(cdp.evaluate("document.getElementById('fire-result').textContent").get<std::string>(),
              testing::HasSubstr("has no event 'nope'"));
  std::this_thread::sleep_for(2s);
  cdp.evaluate("1");
  for (size_t i = before; i < cdp.errors().size(); ++i)
    EXPECT_THAT(cdp.errors()[i], testing::AllOf(testing::HasSubstr("status of 400"),
                                                testing::HasSubstr("/api/fire")));
  EXPECT_EQ(cdp.evaluate("document.getElementById('page-errors').dataset.count"), "0");
  try {
    cdp.call("Browser.close", json::object(), 5s);
  } catch (const std::exception&) {
    // It may close the connection before it answers.
  }
  browser.wait_for(10s);
}

} // namespace
} // namespace lightbus::test
