#pragma once

// A minimal Chrome DevTools Protocol client for the browser test: a WebSocket
// (RFC 6455, text frames, client masking) on loopback, JSON commands with ids,
// and the events that report page errors. Every read has a deadline.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lightbus::test {

class cdp_client {
public:
  /// Connects to `ws://127.0.0.1:port{path}`; throws on failure.
  cdp_client(int port, const std::string& path) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("cannot connect to the DevTools port");
    write_all("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port)
              + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos)
      head += static_cast<char>(read_byte());
    if (head.find(" 101 ") == std::string::npos)
      throw std::runtime_error("WebSocket handshake refused: " + head);
  }

  ~cdp_client() {
    if (fd_ >= 0)
      ::close(fd_);
  }

  cdp_client(const cdp_client&) = delete;
  cdp_client& operator=(const cdp_client&) = delete;

  /// Sends a command and returns its `result`; throws on an error reply or
  /// when no reply comes within `timeout`.
  nlohmann::json call(const std::string& method, nlohmann::json params = nlohmann::json::object(),
                      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto id = ++last_id_;
    send_text(nlohmann::json{{"id", id}, {"method", method}, {"params", std::move(params)}}.dump());
    deadline_ = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto msg = nlohmann::json::parse(read_message(), nullptr, false);
      if (msg.is_discarded())
        continue;
      if (msg.contains("id") && msg["id"] == id) {
        if (msg.contains("error"))
          throw std::runtime_error(method + ": " + msg["error"].dump());
        return msg.value("result", nlohmann::json::object());
      }
      note_event(msg);
    }
  }

  /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
  nlohmann::json evaluate(const std::string& expression) {
    auto r = call("Runtime.evaluate",
                  {{"expression", expression}, {"awaitPromise", true}, {"returnByValue", true}});
    if (r.contains("exceptionDetails"))
      throw std::runtime_error("evaluate(" + expression + "): " + r["exceptionDetails"].dump());
    return r["result"].value("value", nlohmann::json());
  }

  /// Console errors, uncaught exceptions and error log entries seen so far.
  const std::vector<std::string>& errors() const noexcept { return errors_; }

private:
  void note_event(const nlohmann::json& msg) {
    auto method = msg.value("method", std::string());
    const auto& p = msg.contains("params") ? msg["params"] : nlohmann::json::object();
    if (method == "Runtime.exceptionThrown")
      errors_.push_back("exception: " + p.dump());
    else if (method == "Runtime.consoleAPICalled"
             && (p.value("type", "") == "error" || p.value("type", "") == "assert"))
      errors_.push_back("console." + p.value("type", "") + ": " + p["args"].dump());
    else if (method == "Log.entryAdded" && p["entry"].value("level", "") == "error")
      errors_.push_back("log: " + p["entry"].dump());
  }

  void write_all(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      auto n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0)
        throw std::runtime_error("DevTools connection: write failed");
      done += static_cast<size_t>(n);
    }
  }

  unsigned char read_byte() {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline_ - std::chrono::steady_clock::now())
                  .count();
    pollfd p{fd_, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) != 1)
      throw std::runtime_error("DevTools connection: no reply in time");
    unsigned char c = 0;
    if (::recv(fd_, &c, 1, 0) != 1)
      throw std::runtime_error("DevTools connection closed");
    return c;
  }

  void send_text(const std::string& payload) {
    std::string frame;
    frame += static_cast<char>(0x81); // FIN, text
    auto n = payload.size();
    if (n < 126) {
      frame += static_cast<char>(0x80 | n);
    } else if (n < 65536) {
      frame += static_cast<char>(0x80 | 126);
      frame += static_cast<char>((n >> 8) & 0xff);
      frame += static_cast<char>(n & 0xff);
    } else {
      frame += static_cast<char>(0x80 | 127);
      for (int i = 7; i >= 0; --i)
        frame += static_cast<char>((static_cast<uint64_t>(n) >> (8 * i)) & 0xff);
    }
    unsigned char mask[4];
    for (auto& m : mask)
      m = static_cast<unsigned char>(rng_());
    frame.append(reinterpret_cast<char*>(mask), 4);
    for (size_t i = 0; i < n; ++i)
      frame += static_cast<char>(payload[i] ^ mask[i % 4]);
    write_all(frame);
  }

  // Returns the next whole text message (joining fragments, answering pings).
  std::string read_message() {
    std::string message;
    for (;;) {
      auto b0 = read_byte();
      auto b1 = read_byte();
      uint64_t len = b1 & 0x7f;
      if (len == 126) {
        len = (static_cast<uint64_t>(read_byte()) << 8) | read_byte();
      } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; ++i)
          len = (len << 8) | read_byte();
      }
      unsigned char mask[4] = {0, 0, 0, 0};
      bool masked = (b1 & 0x80) != 0;
      if (masked)
        for (auto& m : mask)
          m = read_byte();
      std::string payload;
      payload.reserve(len);
      for (uint64_t i = 0; i < len; ++i)
        payload += static_cast<char>(read_byte() ^ mask[i % 4]);
      auto opcode = b0 & 0x0f;
      if (opcode == 0x8)
        throw std::runtime_error("DevTools connection closed by the browser");
      if (opcode == 0x9 || opcode == 0xa)
        continue; // pings: Chromium sends none to clients; ignore both
      message += payload;
      if ((b0 & 0x80) != 0)
        return message;
    }
  }

  int fd_ = -1;
  int last_id_ = 0;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::now();
  std::vector<std::string> errors_;
  std::mt19937 rng_{std::random_device{}()};
};

} // namespace lightbus::test
