// A procedure whose parameter type has no JSON mapping must be rejected by one
// static_assert naming lightbus/types.hpp (compile.no_json_mapping).

#include <lightbus/api.hpp>

namespace {

struct point {
  int x = 0;
  int y = 0;
};

#ifdef LIGHTBUS_COMPILE_CONTROL
// The control build: the same API with a mapping compiles.
void to_json(lightbus::json& j, const point& p) {
  j = {{"x", p.x}, {"y", p.y}};
}
void from_json(const lightbus::json& j, point& p) {
  p.x = j.at("x").get<int>();
  p.y = j.at("y").get<int>();
}
#endif

struct geometry_api : lightbus::api {
  geometry_api() : api("geometry") {
    rpc("norm1", {"p"}, [](const point& p) { return p.x + p.y; });
  }
};

} // namespace

int main() {
  geometry_api api;
  return api.procedures().size() == 1 ? 0 : 1;
}
