// Fuzzes the config loader: the input is written to a `.yaml` and to a
// `.json` file and loaded with `config::load_file` (YAML parsing, the
// conversion to JSON, the config schema check and the reading of every
// section). Properties: no crash, uncaught exception or sanitizer report; a
// loaded config's document loads again to the same settings.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_support.hpp"
#include "lightbus/config.hpp"

using lightbus::fuzz::check;

namespace {

std::string dir;

void remove_dir() {
  std::remove((dir + "/config.yaml").c_str());
  std::remove((dir + "/config.json").c_str());
  ::rmdir(dir.c_str());
}

void write_file(const std::string& path, const uint8_t* data, size_t size) {
  auto* f = std::fopen(path.c_str(), "wb");
  check(f != nullptr, "the scratch file opens");
  check(std::fwrite(data, 1, size, f) == size || size == 0, "the scratch file is written");
  std::fclose(f);
}

void load(const std::string& path, const uint8_t* data, size_t size) {
  write_file(path, data, size);
  auto cfg = lightbus::config::load_file(path);
  if (!cfg)
    return;
  auto again = lightbus::config::from_json(cfg->document(), path);
  check(again.has_value(), "a loaded config's document loads again");
  const auto& a = cfg->default_api();
  const auto& b = again->default_api();
  check(a.rpc_timeout == b.rpc_timeout && a.rpc_url == b.rpc_url && a.result_url == b.result_url
          && a.event_transport == b.event_transport && a.result_ttl == b.result_ttl,
        "reloading a config's document gives the same default API");
  check(cfg->bus().schema_ttl == again->bus().schema_ttl
          && cfg->bus().schema_url == again->bus().schema_url,
        "reloading a config's document gives the same bus section");
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char tmpl[] = "/tmp/lightbus-fuzz-config-XXXXXX";
  auto* made = ::mkdtemp(tmpl);
  check(made != nullptr, "a scratch directory is created in /tmp");
  dir = made;
  std::atexit(remove_dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  load(dir + "/config.yaml", data, size);
  load(dir + "/config.json", data, size);
  return 0;
}
