#include "lightbus/validation.hpp"

#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <regex>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/constraint_builder.hpp>
#include <valijson/constraints/concrete_constraints.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "lightbus/json.hpp"
#include "validation_failure.hpp"

namespace lightbus {

namespace {

using adapter = valijson::adapters::NlohmannJsonAdapter;
using detail::schema_failure;
using detail::schema_subject;

// -- preparing schemas and values ---------------------------------------------

// The draft-07 meta-schema (http://json-schema.org/draft-07/schema#).
// Python's `jsonschema.validate()` checks every schema against it first and
// raises `SchemaError`; `schema_validator::make` does the same.
constexpr const char* draft07_metaschema
    = R"({"$schema":"http://json-schema.org/draft-07/schema#",)"
      R"("$id":"http://json-schema.org/draft-07/schema#",)"
      R"("title":"Core schema meta-schema",)"
      R"("definitions":{"schemaArray":{"type":"array","minItems":1,)"
      R"("items":{"$ref":"#"}},"nonNegativeInteger":{"type":"integer","minimum":0},)"
      R"("nonNegativeIntegerDefault0":{"allOf":[{"$ref":"#/definitions/nonNegativeInteger"},)"
      R"({"default":0}]},"simpleTypes":{"enum":["array","boolean","integer","null",)"
      R"("number","object","string"]},"stringArray":{"type":"array",)"
      R"("items":{"type":"string"},"uniqueItems":true,"default":[]}},)"
      R"("type":["object","boolean"],"properties":{"$id":{"type":"string",)"
      R"("format":"uri-reference"},"$schema":{"type":"string","format":"uri"},)"
      R"("$ref":{"type":"string","format":"uri-reference"},)"
      R"("$comment":{"type":"string"},"title":{"type":"string"},)"
      R"("description":{"type":"string"},"default":true,)"
      R"("readOnly":{"type":"boolean","default":false},"examples":{"type":"array",)"
      R"("items":true},"multipleOf":{"type":"number","exclusiveMinimum":0},)"
      R"("maximum":{"type":"number"},"exclusiveMaximum":{"type":"number"},)"
      R"("minimum":{"type":"number"},"exclusiveMinimum":{"type":"number"},)"
      R"("maxLength":{"$ref":"#/definitions/nonNegativeInteger"},)"
      R"("minLength":{"$ref":"#/definitions/nonNegativeIntegerDefault0"},)"
      R"("pattern":{"type":"string","format":"regex"},)"
      R"("additionalItems":{"$ref":"#"},"items":{"anyOf":[{"$ref":"#"},)"
      R"({"$ref":"#/definitions/schemaArray"}],"default":true},)"
      R"("maxItems":{"$ref":"#/definitions/nonNegativeInteger"},)"
      R"("minItems":{"$ref":"#/definitions/nonNegativeIntegerDefault0"},)"
      R"("uniqueItems":{"type":"boolean","default":false},"contains":{"$ref":"#"},)"
      R"("maxProperties":{"$ref":"#/definitions/nonNegativeInteger"},)"
      R"("minProperties":{"$ref":"#/definitions/nonNegativeIntegerDefault0"},)"
      R"("required":{"$ref":"#/definitions/stringArray"},)"
      R"("additionalProperties":{"$ref":"#"},"definitions":{"type":"object",)"
      R"("additionalProperties":{"$ref":"#"},"default":{}},)"
      R"("properties":{"type":"object","additionalProperties":{"$ref":"#"},)"
      R"("default":{}},"patternProperties":{"type":"object",)"
      R"("additionalProperties":{"$ref":"#"},"propertyNames":{"format":"regex"},)"
      R"("default":{}},"dependencies":{"type":"object",)"
      R"("additionalProperties":{"anyOf":[{"$ref":"#"},)"
      R"({"$ref":"#/definitions/stringArray"}]}},"propertyNames":{"$ref":"#"},)"
      R"("const":true,"enum":{"type":"array","items":true},)"
      R"("type":{"anyOf":[{"$ref":"#/definitions/simpleTypes"},{"type":"array",)"
      R"("items":{"$ref":"#/definitions/simpleTypes"},"minItems":1,)"
      R"("uniqueItems":true}]},"format":{"type":"string"},)"
      R"("contentMediaType":{"type":"string"},"contentEncoding":{"type":"string"},)"
      R"("if":{"$ref":"#"},"then":{"$ref":"#"},"else":{"$ref":"#"},)"
      R"("allOf":{"$ref":"#/definitions/schemaArray"},)"
      R"("anyOf":{"$ref":"#/definitions/schemaArray"},)"
      R"("oneOf":{"$ref":"#/definitions/schemaArray"},"not":{"$ref":"#"}},)"
      R"("default":true})";

// JSON Schema compares numbers by value: 1.0 is an integer and equals 1
// (Python's jsonschema agrees). valijson looks at the stored type, so floats
// with no fractional part become integers, in schemas and in values alike.
void normalize_numbers(json& x) {
  switch (x.type()) {
  case json::value_t::number_float: {
    double d = x.get<double>();
    // 2^63 is exact as a double. Larger values stay floats: valijson
    // reads every integer as int64_t.
    constexpr double two63 = 9223372036854775808.0;
    if (std::trunc(d) == d && d >= -two63 && d < two63)
      x = static_cast<int64_t>(d);
    return;
  }
  case json::value_t::number_unsigned:
    // valijson reads every integer as int64_t: 2^63 and up would wrap.
    if (x.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      x = std::numeric_limits<int64_t>::max();
    return;
  case json::value_t::binary:
    // An integer beyond 64 bits (Python has them): still an integer, seen as
    // the int64 extreme of its sign, which compares the same with any bound
    // inside int64 (see docs/interop.md).
    if (is_big_integer(x))
      x = big_integer_digits(x)->front() == '-' ? std::numeric_limits<int64_t>::min()
                                                : std::numeric_limits<int64_t>::max();
    return;
  case json::value_t::array:
  case json::value_t::object:
    for (auto& item : x)
      normalize_numbers(item);
    return;
  default:
    return;
  }
}

bool needs_normalizing(const json& x) {
  switch (x.type()) {
  case json::value_t::number_float: {
    double d = x.get<double>();
    return std::trunc(d) == d && std::abs(d) < 9223372036854775808.0;
  }
  case json::value_t::number_unsigned:
    return x.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  case json::value_t::binary:
    return is_big_integer(x);
  case json::value_t::array:
  case json::value_t::object:
    for (const auto& item : x)
      if (needs_normalizing(item))
        return true;
    return false;
  default:
    return false;
  }
}

// valijson (and copying a json) recurses once per level of nesting: some
// 10,000 levels overflow an 8 MiB stack. Python's json.loads() gives up near
// 1,000 levels (RecursionError), so no Python peer sends anything deeper.
constexpr size_t max_nesting = 1000;

// Returns true if `value` nests deeper than `max_nesting`. Iterative, so it
// is safe on any input.
bool too_deep(const json& value) {
  std::vector<std::pair<const json*, size_t>> todo{{&value, 1}};
  while (!todo.empty()) {
    auto [cur, depth] = todo.back();
    todo.pop_back();
    if (!cur->is_structured())
      continue;
    if (depth > max_nesting)
      return true;
    for (const auto& item : *cur)
      todo.emplace_back(&item, depth + 1);
  }
  return false;
}

std::string too_deep_message() {
  return "nested more than " + std::to_string(max_nesting) + " levels deep";
}

// Returns `value`, or a normalized copy kept in `storage` when one is needed.
const json& normalized(const json& value, json& storage) {
  if (!needs_normalizing(value))
    return value;
  storage = value;
  normalize_numbers(storage);
  return storage;
}

// Our name for `pattern`: valijson never sees its own keyword (see below).
constexpr const char* pattern_keyword = "x-lightbus-pattern";

// What `prepare` found in a schema.
struct schema_features {
  bool pattern_properties = false;
};

// Rewrites a schema before valijson compiles it:
// - `format` goes. Lightbus calls `jsonschema.validate()` without a format
//   checker, so `format` is an annotation only; valijson would assert `date`,
//   `time` and `date-time` (and reject Python's offset-less `isoformat()`).
// - `pattern` becomes `x-lightbus-pattern`, checked by `pattern_constraint`.
// Keywords are only touched in schema objects: a property named "format"
// stays, and `const` / `enum` values are left alone. Unknown keywords are
// walked too, in case a `$ref` points into them.
void prepare(json& schema, schema_features& found);

void prepare_each(json& container, schema_features& found) {
  for (auto& item : container)
    prepare(item, found);
}

void prepare(json& schema, schema_features& found) {
  if (schema.is_array()) {
    prepare_each(schema, found);
    return;
  }
  if (!schema.is_object())
    return;
  if (auto i = schema.find("format"); i != schema.end() && i->is_string())
    schema.erase(i);
  if (auto i = schema.find("pattern"); i != schema.end() && i->is_string()) {
    auto value = std::move(*i);
    schema.erase(i);
    schema[pattern_keyword] = std::move(value);
  }
  for (auto& [key, value] : schema.items()) {
    if (key == "const" || key == "enum")
      continue;
    if (key == "patternProperties")
      found.pattern_properties = true;
    // Objects whose values are schemas; their own keys are names.
    if ((key == "properties" || key == "patternProperties" || key == "definitions"
         || key == "dependencies")
        && value.is_object())
      prepare_each(value, found);
    else
      prepare(value, found);
  }
}

// libstdc++'s std::regex matches recursively, one stack frame per
// character: a string of some 30,000 bytes overflows an 8 MiB stack and
// kills the process. No string longer than this is matched; a `pattern`
// rejects it instead (Python would match it). Lightbus itself only writes the
// `Decimal` pattern.
constexpr size_t max_pattern_subject = 2048;

std::string too_long_for_pattern(size_t size) {
  return "string of " + std::to_string(size) + " bytes is too long to match against a "
         + "pattern (at most " + std::to_string(max_pattern_subject) + ")";
}

// `pattern` with a compiled, shared regex and a bound on the subject's length.
class pattern_constraint : public valijson::constraints::PolyConstraint {
public:
  explicit pattern_constraint(const std::string& pattern)
      : regex_(std::make_shared<const std::regex>(pattern, std::regex::ECMAScript)) {}

  bool validate(const valijson::adapters::Adapter& target,
                const std::vector<std::string>& context,
                valijson::ValidationResults* results) const override {
    if (!target.isString())
      return true;
    auto text = target.getString();
    std::string problem;
    if (text.size() > max_pattern_subject)
      problem = too_long_for_pattern(text.size());
    else if (!std::regex_search(text, *regex_))
      problem = "Failed to match regex specified by 'pattern' constraint.";
    if (problem.empty())
      return true;
    if (results != nullptr)
      results->pushError(context, problem);
    return false;
  }

private:
  Constraint* cloneInto(void* where) const override {
    return new (where) pattern_constraint(*this);
  }

  size_t sizeOf() const override { return sizeof(pattern_constraint); }

  // std::regex is safe to share between threads for matching.
  std::shared_ptr<const std::regex> regex_;
};

class pattern_builder : public valijson::ConstraintBuilder {
public:
  valijson::constraints::Constraint*
  make(const valijson::adapters::Adapter& value) const override {
    // A bad regex throws std::regex_error here, at compile time.
    return new pattern_constraint(value.getString());
  }
};

// Returns true if an object in `value` has a key too long to match against
// `patternProperties` (which valijson matches with std::regex).
bool has_long_key(const json& value) {
  if (value.is_object()) {
    for (const auto& [key, item] : value.items())
      if (key.size() > max_pattern_subject || has_long_key(item))
        return true;
  } else if (value.is_array()) {
    for (const auto& item : value)
      if (has_long_key(item))
        return true;
  }
  return false;
}


// -- compiling and running --------------------------------------------------------

struct compiled_schema {
  json original;
  // What valijson compiled: numbers normalized, keywords rewritten (`prepare`).
  json prepared;
  schema_features features;
  valijson::Schema compiled;
};

const compiled_schema& metaschema();

// The only remote document a `$ref` may name: the draft-07 meta-schema,
// served from memory as Python's jsonschema serves it from its own store.
// Anything else is an error; we never download.
const json* fetch_document(const std::string& uri) {
  if (uri == "http://json-schema.org/draft-07/schema")
    return new json(metaschema().prepared);
  return nullptr;
}

void free_document(const json* doc) {
  delete doc;
}

// Compiles `out.original`. Throws on a schema valijson cannot compile.
void compile(compiled_schema& out, bool allow_fetch = true) {
  out.prepared = out.original;
  normalize_numbers(out.prepared);
  prepare(out.prepared, out.features);
  valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
  // The parser owns and deletes the builder.
  parser.addConstraintBuilder(pattern_keyword, new pattern_builder);
  adapter schema_adapter(out.prepared);
  if (allow_fetch)
    parser.populateSchema(schema_adapter, out.compiled, fetch_document, free_document);
  else
    parser.populateSchema(schema_adapter, out.compiled);
}

// Returns an empty optional when `value` is valid, else the failures (none
// without `want_details`). Never throws: valijson may throw on odd input (a
// `patternProperties` regex std::regex cannot compile), which counts as a
// failure.
std::optional<std::vector<schema_failure>> run(const compiled_schema& schema, const json& value,
                                        bool want_details) {
  if (schema.features.pattern_properties && has_long_key(value))
    return std::vector<schema_failure>{schema_failure{{},
                                        "an object key is too long to match against "
                                        "patternProperties (at most "
                                            + std::to_string(max_pattern_subject)
                                            + " bytes)"}};
  try {
    valijson::Validator validator(valijson::Validator::kStrongTypes);
    adapter target(value);
    if (!want_details) {
      if (validator.validate(schema.compiled, target, nullptr))
        return std::nullopt;
      return std::vector<schema_failure>{};
    }
    valijson::ValidationResults results;
    if (validator.validate(schema.compiled, target, &results))
      return std::nullopt;
    std::vector<schema_failure> out;
    valijson::ValidationResults::Error e;
    while (results.popError(e))
      out.push_back(schema_failure{detail::failure_path(e.context), std::move(e.description)});
    return out;
  } catch (const std::exception& e) {
    return std::vector<schema_failure>{schema_failure{{}, std::string("cannot validate: ") + e.what()}};
  }
}

const compiled_schema& metaschema() {
  // valijson schemas cannot be copied or moved.
  static const auto instance = [] {
    auto out = std::make_unique<compiled_schema>();
    out->original = json::parse(draft07_metaschema);
    compile(*out, false);
    return out;
  }();
  return *instance;
}

} // namespace

// -- schema_validator ------------------------------------------------------------

struct schema_validator::impl : compiled_schema {};

schema_validator::schema_validator(std::shared_ptr<const impl> ptr)
    : impl_(std::move(ptr)) {}

schema_validator::~schema_validator() = default;

expected<schema_validator> schema_validator::make(const json& schema) {
  if (too_deep(schema))
    return make_error(errc::invalid_message,
                      "invalid JSON Schema: " + too_deep_message());
  // As Python does (`check_schema`), the schema must be valid draft-07 first.
  json storage;
  const json& checked = normalized(schema, storage);
  if (auto failures = run(metaschema(), checked, true))
    return make_error(errc::invalid_message, detail::describe_failures(*failures, metaschema().prepared,
                                                                checked, schema_subject::schema));
  auto ptr = std::make_shared<impl>();
  ptr->original = schema;
  try {
    compile(*ptr);
  } catch (const std::exception& e) {
    return make_error(errc::invalid_message,
                      std::string("invalid JSON Schema: ") + e.what());
  }
  return schema_validator{std::move(ptr)};
}

bool schema_validator::accepts(const json& value) const {
  if (too_deep(value))
    return false;
  json storage;
  return !run(*impl_, normalized(value, storage), false);
}

namespace {

// The detailed pass of a check: a failure pays for the details, the fast pass
// (which stops at the first failure) decided there is one.
error describe_rejection(const compiled_schema& schema, const json& prepared, errc code,
                         schema_subject what) {
  auto failures = run(schema, prepared, true).value_or(std::vector<schema_failure>{});
  return make_error(code, detail::describe_failures(failures, schema.prepared, prepared, what));
}

} // namespace

expected<void> schema_validator::check_parameters(const json& kwargs) const {
  if (too_deep(kwargs))
    return make_error(errc::invalid_parameters, "kwargs: " + too_deep_message());
  json storage;
  const json& prepared = normalized(kwargs, storage);
  if (!run(*impl_, prepared, false))
    return {};
  return describe_rejection(*impl_, prepared, errc::invalid_parameters,
                            schema_subject::parameters);
}

expected<void> schema_validator::check_response(const json& value) const {
  if (too_deep(value))
    return make_error(errc::invalid_message, "result: " + too_deep_message());
  json storage;
  const json& prepared = normalized(value, storage);
  if (!run(*impl_, prepared, false))
    return {};
  return describe_rejection(*impl_, prepared, errc::invalid_message, schema_subject::response);
}

const json& schema_validator::schema() const noexcept {
  return impl_->original;
}

expected<void> validate_parameters(const json& parameters_schema, const json& kwargs) {
  auto v = schema_validator::make(parameters_schema);
  if (!v)
    return v.error();
  return v->check_parameters(kwargs);
}

expected<void> validate_response(const json& response_schema, const json& value) {
  auto v = schema_validator::make(response_schema);
  if (!v)
    return v.error();
  return v->check_response(value);
}

} // namespace lightbus
