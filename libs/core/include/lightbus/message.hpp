#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "lightbus/error.hpp"
#include "lightbus/fwd.hpp"

namespace lightbus {

/// An RPC call as it travels on `{api}:rpc_queue` (spec §3.1).
struct rpc_message {
  std::string id;
  std::string api_name;
  std::string procedure_name;
  /// `redis+key://<result key>`; Python workers reject any other scheme.
  std::string return_path;
  /// Keyword arguments; always an object.
  json kwargs = json::object();
  /// Set only for a call whose blob could not be decoded (see
  /// `salvage_rpc_message`): why. Such a call never runs; it is answered
  /// with `refused_result`.
  std::string refused;

  /// Returns `api.procedure`.
  std::string canonical_name() const { return api_name + "." + procedure_name; }
};

/// Returns a new call with a fresh uuid1 id and Python's return path.
rpc_message make_rpc_message(std::string api_name, std::string procedure_name,
                             json kwargs);

/// The result of an RPC call (spec §3.4).
struct result_message {
  std::string id;
  std::string rpc_message_id;
  /// True when the procedure failed; `result` then holds a readable message.
  bool error = false;
  /// The return value, or the error text.
  json result;
  /// Where the error happened (Python: the traceback); only when `error`.
  std::optional<std::string> trace;
};

/// Returns a success result for `call`, with a fresh id.
result_message make_result(const rpc_message& call, json value);

/// Returns an error result for `call`, with a fresh id.
result_message make_error_result(const rpc_message& call, std::string message,
                                 std::string trace);

/// Encodes a call blob exactly as Python Lightbus does (sorted keys, Python separators).
std::string encode(const rpc_message& msg);

/// Encodes a result blob exactly as Python Lightbus does.
std::string encode(const result_message& msg);

/// Decodes a call blob; rejects missing, empty or extra metadata keys (spec §2.4).
expected<rpc_message> decode_rpc_message(std::string_view blob);

/// Decodes a result blob.
expected<result_message> decode_result_message(std::string_view blob);

/// Reads what it can of a call blob that `decode_rpc_message` refused for
/// `reason`, so that its caller can be answered instead of left to time out.
///
/// Returns a call with the blob's id and return path, its API and procedure
/// names where they are strings, no kwargs, and `refused` = `reason`; or
/// nothing if no id or no valid return path can be read (then nobody can be
/// answered). Bytes that are not UTF-8 are read as U+FFFD here.
std::optional<rpc_message> salvage_rpc_message(std::string_view blob, std::string reason);

/// Returns the error result that answers a refused call (`rpc_message::refused`).
result_message refused_result(const rpc_message& call);

} // namespace lightbus
