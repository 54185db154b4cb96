#include "lightbus/redis_url.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>

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
  for (auto pos = shown.find("password="); pos != std::string::npos;  // also sentinel_password=
       pos = shown.find("password=", pos)) {
    pos += 9;
    auto end = shown.find('&', pos);
    shown.replace(pos, end == std::string::npos ? end : end - pos, "***");
  }
  return make_error(errc::invalid_config, "bad Redis URL '" + shown + "': " + why);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// `%40` -> `@`, as redis-py unquotes user names, passwords and paths.
std::string percent_decoded(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    int hi = 0, lo = 0;
    if (in[i] == '%' && i + 2 < in.size() && (hi = hex_digit(in[i + 1])) >= 0
        && (lo = hex_digit(in[i + 2])) >= 0) {
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

// Parses `host[:port]` or `[v6]:port`.
expected<void> parse_host_port(std::string_view text, std::string_view rest, std::string& host,
                               int& port) {
  std::string_view h = rest;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos)
      return bad(text, "unterminated IPv6 address");
    h = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest.front() == ':') {
      if (!parse_int(rest.substr(1), port))
        return bad(text, "port must be a number");
    } else if (!rest.empty()) {
      return bad(text, "unexpected text after the IPv6 address");
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    h = rest.substr(0, colon);
    if (!parse_int(rest.substr(colon + 1), port))
      return bad(text, "port must be a number");
  }
  if (port <= 0 || port > 65535)
    return bad(text, "port must be between 1 and 65535");
  if (!h.empty())
    host = std::string(h);
  return {};
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
      url.password = percent_decoded(value);
    } else if (key == "sentinel_password") {
      if (url.sentinels.empty())
        return bad(text, "sentinel_password needs a redis+sentinel:// URL");
      url.sentinel_password = percent_decoded(value);
    } else if (key == "replicas") {
      if (!parse_int(value, url.replicas) || url.replicas < 0)
        return bad(text, "replicas must be a non-negative integer (0: no WAIT), got '"
                           + std::string(value) + "'");
    } else if (key == "replicas_timeout") {
      double s = -1;
      auto v = std::string(value);
      char* end = nullptr;
      s = std::strtod(v.c_str(), &end);
      if (v.empty() || end != v.c_str() + v.size() || !(s > 0) || s > 86400)
        return bad(text, "replicas_timeout must be a positive number of seconds, got '" + v
                           + "'");
      url.replicas_timeout_ms = std::max(1, static_cast<int>(s * 1000 + 0.5));
    } else if (key == "ssl_ca_certs" || key == "ssl_certfile" || key == "ssl_keyfile"
               || key == "ssl_cert_reqs") {
      if (!url.tls)
        return bad(text, std::string(key) + " needs a rediss:// URL (TLS)");
      auto v = percent_decoded(value);
      if (key == "ssl_ca_certs")
        url.tls_options.ca_certs = v;
      else if (key == "ssl_certfile")
        url.tls_options.certfile = v;
      else if (key == "ssl_keyfile")
        url.tls_options.keyfile = v;
      else if (v == "required")
        url.tls_options.verify = true;
      else if (v == "none")
        url.tls_options.verify = false;
      else
        return bad(text, "ssl_cert_reqs must be required or none (optional is not supported)");
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
    url.unix_path = percent_decoded(rest.substr(0, q));
    if (url.unix_path.empty() || url.unix_path.front() != '/')
      return bad(text, "expected unix:///absolute/path.sock");
    if (q != std::string_view::npos)
      if (auto r = parse_query(text, rest.substr(q + 1), url); !r)
        return r.error();
    return url;
  }
  bool sentinel = false;
  bool cluster = false;
  if (text.rfind("redis://", 0) == 0) {
    rest = text.substr(8);
  } else if (text.rfind("rediss://", 0) == 0) {
    rest = text.substr(9);
    url.tls = true;
  } else if (text.rfind("redis+sentinel://", 0) == 0) {
    rest = text.substr(17);
    sentinel = true;
  } else if (text.rfind("redis+cluster://", 0) == 0) {
    rest = text.substr(16);
    cluster = true;
  } else if (text.rfind("rediss+cluster://", 0) == 0) {
    rest = text.substr(17);
    cluster = true;
    url.tls = true;
  } else {
    return bad(text, "expected redis://host:port/db, rediss://host:port/db, "
                     "redis+sentinel://host:port[,host:port]/master_name, "
                     "redis+cluster://host:port[,host:port] or unix:///path");
  }
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  // The path starts at the first '/' after the userinfo (a password may hold '/').
  auto at = rest.rfind('@');
  std::string_view path;
  if (auto slash = rest.find('/', at == std::string_view::npos ? 0 : at);
      slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (at != std::string_view::npos) {
    auto userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    // `password`, `:password` or `user:password` (an ACL user).
    auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      url.password = percent_decoded(userinfo);
    } else {
      url.user = percent_decoded(userinfo.substr(0, colon));
      url.password = percent_decoded(userinfo.substr(colon + 1));
    }
  }
  if (sentinel || cluster) {
    // host:port[,host:port...]
    auto& seeds = sentinel ? url.sentinels : url.cluster_seeds;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      std::string host = "127.0.0.1";
      int port = sentinel ? 26379 : 6379;
      if (auto r = parse_host_port(text, rest.substr(0, comma), host, port); !r)
        return r.error();
      seeds.emplace_back(host, port);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  }
  if (cluster) {
    // host:port[,host:port...] [/ 0]
    if (url.cluster_seeds.empty())
      return bad(text, "name at least one node, as in redis+cluster://host:7000,host:7001");
    url.host = url.cluster_seeds.front().first;
    url.port = url.cluster_seeds.front().second;
  } else if (sentinel) {
    // ... / master_name [/ db]
    if (url.sentinels.empty())
      return bad(text, "name at least one Sentinel, as in redis+sentinel://host:26379/mymaster");
    auto slash = path.find('/');
    url.master_name = percent_decoded(path.substr(0, slash));
    if (url.master_name.empty())
      return bad(text, "name the master, as in redis+sentinel://host:26379/mymaster/0");
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    url.host = url.sentinels.front().first;
    url.port = url.sentinels.front().second;
  } else if (auto r = parse_host_port(text, rest, url.host, url.port); !r) {
    return r.error();
  }
  if (!path.empty() && !parse_int(path, url.db))
    return bad(text, "database must be a number, as in redis://host:6379/0");
  if (url.db < 0)
    return bad(text, "database must not be negative");
  if (!query.empty())
    if (auto r = parse_query(text, query, url); !r)
      return r.error();
  if (cluster && url.db != 0)
    return bad(text, "a Redis Cluster has only database 0");
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
  auto host_port = [](const std::string& host, int port) {
    bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  };
  out = !url.sentinels.empty() ? "redis+sentinel://"
        : url.cluster()       ? (url.tls ? "rediss+cluster://" : "redis+cluster://")
        : url.tls             ? "rediss://"
                              : "redis://";
  if (!url.password.empty())
    out += url.user + ":***@";
  else if (!url.user.empty())
    out += url.user + "@";
  if (!url.sentinels.empty()) {
    for (size_t i = 0; i < url.sentinels.size(); ++i)
      out += (i > 0 ? "," : "") + host_port(url.sentinels[i].first, url.sentinels[i].second);
    out += "/" + url.master_name;
  } else if (url.cluster()) {
    for (size_t i = 0; i < url.cluster_seeds.size(); ++i)
      out += (i > 0 ? "," : "")
             + host_port(url.cluster_seeds[i].first, url.cluster_seeds[i].second);
  } else {
    out += host_port(url.host, url.port);
  }
  if (!url.cluster())
    out += "/" + std::to_string(url.db);
  if (url.replicas > 0)
    out += "?replicas=" + std::to_string(url.replicas);
  return out;
}

std::string with_replicas(const std::string& url, int replicas, double timeout_seconds) {
  if (replicas < 0)
    return url;
  char timeout[32];
  std::snprintf(timeout, sizeof(timeout), "%g", timeout_seconds);
  // Appended last: parse_query lets a later key win over one in the URL.
  return url + (url.find('?') == std::string::npos ? "?" : "&")
         + "replicas=" + std::to_string(replicas) + "&replicas_timeout=" + timeout;
}

} // namespace lightbus
