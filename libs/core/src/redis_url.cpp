#include "lightbus/redis_url.hpp"

#include <charconv>

namespace lightbus {

namespace {

bool parse_int(std::string_view s, int& out) {
  if (s.empty())
    return false;
  auto res = std::from_chars(s.data(), s.data() + s.size(), out);
  return res.ec == std::errc{} && res.ptr == s.data() + s.size();
}

error bad(std::string_view text, const std::string& why) {
  // Never echo the password back: print the URL without its userinfo.
  std::string shown(text);
  if (auto at = shown.rfind('@'); at != std::string::npos) {
    auto scheme = shown.find("://");
    if (scheme != std::string::npos && scheme < at)
      shown = shown.substr(0, scheme + 3) + "***@" + shown.substr(at + 1);
  }
  for (auto pos = shown.find("password="); pos != std::string::npos;
       pos = shown.find("password=", pos)) {
    pos += 9;
    auto end = shown.find('&', pos);
    shown.replace(pos, end == std::string::npos ? end : end - pos, "***");
  }
  return make_error(errc::invalid_config, "bad Redis URL '" + shown + "': " + why);
}

// Applies `db=N` and `password=P` query parameters.
expected<void> parse_query(std::string_view text, std::string_view query, redis_url& url) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = item.find('=');
    auto key = item.substr(0, eq);
    auto value = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    if (key == "db") {
      if (!parse_int(value, url.db) || url.db < 0)
        return bad(text, "db must be a non-negative integer");
    } else if (key == "password") {
      url.password = std::string(value);
    } else if (key == "timeout" || key == "encoding" || key == "ssl") {
      // Accepted by Python Lightbus; nothing to do for us.
    } else {
      return bad(text, "unknown query parameter '" + std::string(key) + "'");
    }
  }
  return {};
}

} // namespace

expected<redis_url> parse_redis_url(std::string_view text) {
  redis_url url;
  std::string_view rest;
  if (text.rfind("unix://", 0) == 0) {
    rest = text.substr(7);
    auto q = rest.find('?');
    url.unix_path = std::string(rest.substr(0, q));
    if (url.unix_path.empty() || url.unix_path.front() != '/')
      return bad(text, "expected unix:///absolute/path.sock");
    if (q != std::string_view::npos)
      if (auto r = parse_query(text, rest.substr(q + 1), url); !r)
        return r.error();
    return url;
  }
  if (text.rfind("redis://", 0) == 0) {
    rest = text.substr(8);
  } else if (text.rfind("rediss://", 0) == 0) {
    return bad(text, "TLS (rediss://) is not supported by this build");
  } else {
    return bad(text, "expected redis://host:port/db or unix:///path");
  }
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view path;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    auto userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    // `:password` or `user:password`; Lightbus uses the password only.
    auto colon = userinfo.find(':');
    url.password = std::string(colon == std::string_view::npos ? userinfo
                                                               : userinfo.substr(colon + 1));
  }
  std::string_view host = rest;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos)
      return bad(text, "unterminated IPv6 address");
    host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest.front() == ':') {
      if (!parse_int(rest.substr(1), url.port))
        return bad(text, "port must be a number");
    } else if (!rest.empty()) {
      return bad(text, "unexpected text after the IPv6 address");
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    if (!parse_int(rest.substr(colon + 1), url.port))
      return bad(text, "port must be a number");
  }
  if (url.port <= 0 || url.port > 65535)
    return bad(text, "port must be between 1 and 65535");
  if (!host.empty())
    url.host = std::string(host);
  if (!path.empty() && !parse_int(path, url.db))
    return bad(text, "database must be a number, as in redis://host:6379/0");
  if (url.db < 0)
    return bad(text, "database must not be negative");
  if (!query.empty())
    if (auto r = parse_query(text, query, url); !r)
      return r.error();
  return url;
}

std::string to_string(const redis_url& url) {
  std::string out;
  if (!url.unix_path.empty()) {
    out = "unix://" + url.unix_path + "?db=" + std::to_string(url.db);
    if (!url.password.empty())
      out += "&password=***";
    return out;
  }
  out = "redis://";
  if (!url.password.empty())
    out += ":***@";
  bool v6 = url.host.find(':') != std::string::npos;
  out += v6 ? "[" + url.host + "]" : url.host;
  out += ":" + std::to_string(url.port) + "/" + std::to_string(url.db);
  return out;
}

} // namespace lightbus
