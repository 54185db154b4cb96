// Illustrates an RPC that returns an object: the demo's image service resizes
// images. It has no image store: each image is a 64x48 RGB picture generated
// from its id, so the same call always gives the same answer, without network.
// Build: build/examples/image.so
// Run:   build/bin/lightbus run --bus build/examples/image.so

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <lightbus/lightbus.hpp>
#include <lightbus/logger.hpp>

namespace {

constexpr int max_side = 2048;

// An 8-bit RGB image, row by row.
struct rgb_image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels; // width * height * 3 bytes

  uint8_t at(int x, int y, int channel) const {
    return pixels[(static_cast<size_t>(y) * width + x) * 3 + channel];
  }
};

uint64_t fnv1a(const uint8_t* data, size_t size) {
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < size; ++i)
    h = (h ^ data[i]) * 1099511628211ull;
  return h;
}

// The stand-in for loading `image_id`: a colour gradient seeded by the id.
rgb_image load_image(const std::string& image_id) {
  auto seed = fnv1a(reinterpret_cast<const uint8_t*>(image_id.data()), image_id.size());
  rgb_image img{64, 48, {}};
  img.pixels.reserve(64 * 48 * 3);
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      img.pixels.push_back(static_cast<uint8_t>(x * 4 + (seed & 0xff)));
      img.pixels.push_back(static_cast<uint8_t>(y * 5 + ((seed >> 8) & 0xff)));
      img.pixels.push_back(static_cast<uint8_t>((x + y) * 2 + ((seed >> 16) & 0xff)));
    }
  return img;
}

// Bilinear resize: each target pixel mixes the four source pixels around the
// point it maps to (pixel centres aligned).
rgb_image resize(const rgb_image& src, int width, int height) {
  rgb_image dst{width, height,
                std::vector<uint8_t>(static_cast<size_t>(width) * height * 3)};
  auto source_coordinate = [](int i, int dst_size, int src_size) {
    double v = (i + 0.5) * src_size / dst_size - 0.5;
    return std::clamp(v, 0.0, static_cast<double>(src_size - 1));
  };
  for (int y = 0; y < height; ++y) {
    double sy = source_coordinate(y, height, src.height);
    int y0 = static_cast<int>(sy);
    int y1 = std::min(y0 + 1, src.height - 1);
    double fy = sy - y0;
    for (int x = 0; x < width; ++x) {
      double sx = source_coordinate(x, width, src.width);
      int x0 = static_cast<int>(sx);
      int x1 = std::min(x0 + 1, src.width - 1);
      double fx = sx - x0;
      for (int c = 0; c < 3; ++c) {
        double top = src.at(x0, y0, c) * (1 - fx) + src.at(x1, y0, c) * fx;
        double bottom = src.at(x0, y1, c) * (1 - fx) + src.at(x1, y1, c) * fx;
        dst.pixels[(static_cast<size_t>(y) * width + x) * 3 + c]
            = static_cast<uint8_t>(std::lround(top * (1 - fy) + bottom * fy));
      }
    }
  }
  return dst;
}

// The last `digits` hex digits of `x`, zero-padded.
std::string hex(uint64_t x, int digits) {
  std::string out(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, x >>= 4)
    out[static_cast<size_t>(i)] = "0123456789abcdef"[x & 0xf];
  return out;
}

// "#rrggbb" of the mean colour.
std::string average_color(const rgb_image& img) {
  uint64_t sum[3] = {0, 0, 0};
  for (size_t i = 0; i < img.pixels.size(); ++i)
    sum[i % 3] += img.pixels[i];
  auto n = static_cast<uint64_t>(img.width) * img.height;
  return "#" + hex(sum[0] / n, 2) + hex(sum[1] / n, 2) + hex(sum[2] / n, 2);
}

void check_side(const char* name, int value) {
  if (value < 1 || value > max_side)
    throw std::invalid_argument(std::string(name) + " must be between 1 and "
                                + std::to_string(max_side) + " pixels, got "
                                + std::to_string(value));
}

} // namespace

/// What `image.resize` returns.
struct resized_image {
  std::string image_id;
  int width = 0;
  int height = 0;
  /// Size of the raw RGB pixels.
  int64_t bytes = 0;
  /// FNV-1a (64 bit, hex) of the pixels: equal images, equal checksums.
  std::string checksum;
  std::string average_color;
};

// How resized_image travels on the bus: a JSON object with a published schema,
// so that callers (Python ones too) know its fields.
template <>
struct lightbus::bus_type<resized_image> {
  static json schema() {
    return {{"type", "object"},
            {"title", "ResizedImage"},
            {"properties",
             {{"image_id", {{"type", "string"}}},
              {"width", {{"type", "integer"}}},
              {"height", {{"type", "integer"}}},
              {"bytes", {{"type", "integer"}}},
              {"checksum", {{"type", "string"}}},
              {"average_color", {{"type", "string"}}}}},
            {"required",
             {"image_id", "width", "height", "bytes", "checksum", "average_color"}}};
  }
  static bool from_json(const json& j, resized_image& out, std::string& err) {
    try {
      out = {
          j.at("image_id").get<std::string>(), j.at("width").get<int>(),
          j.at("height").get<int>(),           j.at("bytes").get<int64_t>(),
          j.at("checksum").get<std::string>(), j.at("average_color").get<std::string>()};
      return true;
    } catch (const std::exception& e) {
      err = e.what();
      return false;
    }
  }
  static json to_json(const resized_image& r) {
    return {{"image_id", r.image_id}, {"width", r.width},
            {"height", r.height},     {"bytes", r.bytes},
            {"checksum", r.checksum}, {"average_color", r.average_color}};
  }
};

struct image_api : lightbus::api {
  image_api() : api("image") {
    // Throwing is how a procedure fails: the caller gets the message.
    rpc("resize", {"image_id", "width", "height"},
        [](const std::string& image_id, int width, int height) {
          if (image_id.empty())
            throw std::invalid_argument("image_id must not be empty");
          check_side("width", width);
          check_side("height", height);
          auto img = resize(load_image(image_id), width, height);
          lightbus::logger("image")->info("resized {} to {}x{}", image_id, width, height);
          return resized_image{image_id,
                               width,
                               height,
                               static_cast<int64_t>(img.pixels.size()),
                               hex(fnv1a(img.pixels.data(), img.pixels.size()), 16),
                               average_color(img)};
        });
  }
};

LIGHTBUS_MODULE(bus) {
  bus.serve<image_api>();
}
