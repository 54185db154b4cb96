// The message for a value a JSON Schema rejects: valijson's findings (the
// innermost first, wrapped by "something below failed" entries) turned into
// one line that names where and what, as in "parameter 'sku': expected
// string, got integer".

#include "validation_failure.hpp"

#include <string_view>

#include <nlohmann/json.hpp>

#include "lightbus/json.hpp"

namespace lightbus::detail {

namespace {

std::string json_pointer(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& step : path) {
    out += '/';
    for (char c : step) {
      if (c == '~')
        out += "~0";
      else if (c == '/')
        out += "~1";
      else
        out += c;
    }
  }
  return out;
}

bool parse_index(const std::string& step, size_t& index) {
  if (step.empty() || step.size() > 18)
    return false;
  index = 0;
  for (char c : step) {
    if (c < '0' || c > '9')
      return false;
    index = index * 10 + static_cast<size_t>(c - '0');
  }
  return true;
}

const json* value_at(const json& root, const std::vector<std::string>& path) {
  const json* cur = &root;
  for (const auto& step : path) {
    if (cur->is_object()) {
      auto i = cur->find(step);
      if (i == cur->end())
        return nullptr;
      cur = &*i;
    } else if (cur->is_array()) {
      size_t index = 0;
      if (!parse_index(step, index) || index >= cur->size())
        return nullptr;
      cur = &(*cur)[index];
    } else {
      return nullptr;
    }
  }
  return cur;
}

// Follows a local `$ref` ("#" or "#/json/pointer"), a few times at most;
// nullptr for a remote or broken one.
const json* follow_refs(const json& root, const json* cur) {
  for (int hops = 0; hops < 16; ++hops) {
    if (!cur->is_object())
      return cur;
    auto ref = cur->find("$ref");
    if (ref == cur->end())
      return cur;
    if (!ref->is_string())
      return nullptr;
    const auto& text = ref->get_ref<const std::string&>();
    if (text.empty() || text[0] != '#')
      return nullptr;
    try {
      // The pointer is URI-fragment encoded; plain ones need no decoding.
      json::json_pointer pointer(text.substr(1));
      if (!root.contains(pointer))
        return nullptr;
      cur = &root.at(pointer);
    } catch (const std::exception&) {
      return nullptr;
    }
  }
  return nullptr;
}

// Follows `properties`, `additionalProperties`, `items` and local `$ref`s
// down `path`; gives up (nullptr) where the answer is ambiguous: unions,
// `patternProperties`, remote references.
const json* schema_at(const json& root, const std::vector<std::string>& path) {
  const json* cur = follow_refs(root, &root);
  for (const auto& step : path) {
    if (cur == nullptr || !cur->is_object())
      return nullptr;
    const json* next = nullptr;
    if (auto props = cur->find("properties");
        props != cur->end() && props->is_object() && props->contains(step)) {
      next = &(*props)[step];
    } else if (auto items = cur->find("items"); items != cur->end()) {
      size_t index = 0;
      if (items->is_array()) {
        if (!parse_index(step, index))
          return nullptr;
        if (index < items->size()) {
          next = &(*items)[index];
        } else if (auto extra = cur->find("additionalItems"); extra != cur->end()) {
          next = &*extra;
        }
      } else {
        next = &*items;
      }
    } else if (!cur->contains("patternProperties")) {
      if (auto extra = cur->find("additionalProperties"); extra != cur->end())
        next = &*extra;
    }
    if (next == nullptr)
      return nullptr;
    cur = follow_refs(root, next);
  }
  return cur;
}


// Collects the JSON types `schema` allows, if it says so plainly: `type`, or
// `anyOf` / `oneOf` branches that each have a `type`. False if it cannot tell.
bool allowed_types(const json& schema, std::vector<std::string>& out) {
  if (!schema.is_object())
    return false;
  auto add = [&out](const json& t) {
    if (!t.is_string())
      return false;
    auto name = t.get<std::string>();
    for (const auto& known : out)
      if (known == name)
        return true;
    out.push_back(std::move(name));
    return true;
  };
  if (auto t = schema.find("type"); t != schema.end()) {
    if (t->is_array()) {
      for (const auto& item : *t)
        if (!add(item))
          return false;
      return !t->empty();
    }
    return add(*t);
  }
  for (auto key : {"anyOf", "oneOf"}) {
    auto branches = schema.find(key);
    if (branches == schema.end() || !branches->is_array() || branches->empty())
      continue;
    for (const auto& branch : *branches)
      if (!allowed_types(branch, out))
        return false;
    return true;
  }
  return false;
}

// Returns "expected string, got integer" when the type is what is wrong.
std::string type_problem(const json* schema, const json* value) {
  if (schema == nullptr || value == nullptr)
    return {};
  std::vector<std::string> types;
  if (!allowed_types(*schema, types))
    return {};
  for (const auto& t : types)
    if (json_type_matches(t, *value))
      return {};
  std::string out = "expected ";
  for (size_t i = 0; i < types.size(); ++i) {
    if (i > 0)
      out += " or ";
    out += types[i];
  }
  out += ", got ";
  out += json_type_name(*value);
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// valijson reports an error at each level on the way down; these only say
// that something below failed.
bool is_wrapper(std::string_view description) {
  return starts_with(description, "Failed to validate against schema associated with")
         || starts_with(description, "Failed to validate item #")
         || starts_with(description, "Failed to validate against additional properties")
         || starts_with(description, "Failed to validate against child schema #")
         || starts_with(description, "Failed to validate against dependent schema");
}

bool is_type_error(std::string_view description) {
  return starts_with(description, "Value type not permitted");
}

// Returns the quoted name in a valijson message such as
// "Missing required property 'sku'.", or an empty string.
std::string quoted_name(std::string_view description, std::string_view prefix) {
  if (!starts_with(description, prefix))
    return {};
  auto rest = description.substr(prefix.size());
  auto end = rest.rfind('\'');
  if (end == std::string_view::npos)
    return {};
  return std::string(rest.substr(0, end));
}

constexpr std::string_view missing_prefix = "Missing required property '";
constexpr std::string_view unexpected_prefix
    = "Object contains a property that could not be validated using 'properties' "
      "or 'additionalProperties' constraints: '";

// Lower-cases the first letter and drops the final dot of a valijson message.
std::string tidy(std::string text) {
  if (!text.empty() && text.back() == '.')
    text.pop_back();
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z')
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  return text;
}

} // namespace

// valijson names locations as {"<root>", "[key]", "[0]", ...}.
std::vector<std::string> failure_path(const std::vector<std::string>& context) {
  std::vector<std::string> out;
  for (size_t i = 1; i < context.size(); ++i) {
    const auto& step = context[i];
    if (step.size() >= 2 && step.front() == '[' && step.back() == ']')
      out.push_back(step.substr(1, step.size() - 2));
    else
      out.push_back(step);
  }
  return out;
}

// Builds the message for the most specific failure valijson found.
std::string describe_failures(const std::vector<schema_failure>& failures, const json& schema,
                              const json& value, schema_subject what) {
  if (failures.empty())
    return "value does not match the schema";
  // valijson reports the innermost failure first; skip the "something below
  // failed" entries that wrap it.
  const schema_failure* chosen = &failures.front();
  for (const auto& f : failures) {
    if (!is_wrapper(f.description)) {
      chosen = &f;
      break;
    }
  }
  const auto& path = chosen->path;
  std::string detail = type_problem(schema_at(schema, path), value_at(value, path));
  if (detail.empty()) {
    if (is_type_error(chosen->description)) {
      // One branch of a union rejected the type, yet another branch takes
      // it: report what the union as a whole said at this location.
      for (auto i = failures.rbegin(); i != failures.rend(); ++i)
        if (i->path == path && !is_type_error(i->description)) {
          chosen = &*i;
          break;
        }
    }
    const auto& d = chosen->description;
    if (auto name = quoted_name(d, missing_prefix); !name.empty()) {
      if (what == schema_subject::parameters && path.empty())
        return "missing required parameter '" + name + "'";
      detail = "missing required property '" + name + "'";
    } else if (auto extra = quoted_name(d, unexpected_prefix); !extra.empty()) {
      if (what == schema_subject::parameters && path.empty())
        return "unexpected parameter '" + extra + "'";
      detail = "unexpected property '" + extra + "'";
    } else {
      detail = tidy(d);
    }
  }
  std::string where;
  if (what == schema_subject::parameters) {
    if (path.empty())
      where = "kwargs";
    else if (path.size() == 1)
      where = "parameter '" + path[0] + "'";
    else
      where = "parameter '" + path[0] + "' at " + json_pointer(path);
  } else if (what == schema_subject::response) {
    where = path.empty() ? "result" : "result at " + json_pointer(path);
  } else {
    where = path.empty() ? "invalid JSON Schema"
                         : "invalid JSON Schema at " + json_pointer(path);
  }
  return where + ": " + detail;
}

} // namespace lightbus::detail
