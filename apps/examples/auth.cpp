// Illustrates a bus module served by plain functions: the demo's auth service.
// Customers sign up with `accounts.register`, which fires `auth.user_registered`;
// `auth.check_password` checks a login.
// Build: build/examples/auth.so
// Run:   build/bin/lightbus run --bus build/examples/auth.so [--config bus.yaml]

#include <cctype>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include <lightbus/lightbus.hpp>
#include <lightbus/logger.hpp>

namespace {

// The service's users. Procedures run on several handler threads at once,
// hence the mutex. (A real service keeps users in a database and stores a slow
// password hash such as argon2, not std::hash.)
class user_table {
public:
  user_table() { add("admin", "secret"); }

  /// Adds a user; throws `std::invalid_argument` if the name is taken.
  void add(const std::string& username, const std::string& password) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!hashes_.emplace(username, hash(username, password)).second)
      throw std::invalid_argument("username already taken: " + username);
  }

  void remove(const std::string& username) {
    std::lock_guard<std::mutex> guard{mtx_};
    hashes_.erase(username);
  }

  bool check(const std::string& username, const std::string& password) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = hashes_.find(username);
    return i != hashes_.end() && i->second == hash(username, password);
  }

private:
  static size_t hash(const std::string& username, const std::string& password) {
    return std::hash<std::string>{}("lightbus-demo:" + username + ":" + password);
  }

  mutable std::mutex mtx_;
  std::map<std::string, size_t> hashes_;
};

// Throws `std::invalid_argument` (the caller gets its text) for bad sign-up data.
void check_sign_up(const std::string& username, const std::string& email,
                   const std::string& password) {
  if (username.empty() || username.size() > 32)
    throw std::invalid_argument("username must have 1 to 32 characters");
  for (char c : username)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
      throw std::invalid_argument("username may contain only letters, digits, '_', '-' "
                                  "and '.': "
                                  + username);
  auto at = email.find('@');
  if (at == std::string::npos || at == 0 || email.find('.', at) == std::string::npos)
    throw std::invalid_argument("not an email address: " + email);
  if (password.size() < 6)
    throw std::invalid_argument("password must have at least 6 characters");
}

} // namespace

// The `auth` API exactly as the Python Lightbus example declares it: its schema
// equals Python's (tests/data/10-schema-auth.json, checked by the tests).
struct auth_api : lightbus::api {
  explicit auth_api(std::shared_ptr<user_table> users) : api("auth") {
    // Parameter and result types are deduced from the callable.
    rpc("check_password", {"username", "password"},
        [users](const std::string& username, const std::string& password) {
          return users->check(username, password);
        });
    event<std::string, std::string>("user_registered", {"username", "email"});
  }
};

// Sign-ups, an API of the same service: `accounts.register` fires
// `auth.user_registered`.
struct accounts_api : lightbus::api {
  accounts_api(std::shared_ptr<user_table> users, lightbus::bus client) : api("accounts") {
    // Functions run on threads of their own: blocking on the bus here is fine.
    rpc("register", {"username", "email", "password"},
        [users, client](const std::string& username, const std::string& email,
                        const std::string& password) {
          check_sign_up(username, email, password);
          users->add(username, password);
          try {
            client.fire("auth.user_registered",
                        {{"username", username}, {"email", email}});
          } catch (const lightbus::bus_error&) {
            // Nobody heard of the new user: undo, so that the caller can retry.
            users->remove(username);
            throw;
          }
          lightbus::logger("auth")->info("new customer {} <{}>", username, email);
          return true;
        });
  }
};

LIGHTBUS_MODULE(bus) {
  auto users = std::make_shared<user_table>();
  bus.serve<auth_api>(users);
  // The worker's own client (its --config / --redis), usable once it runs.
  bus.serve<accounts_api>(users, bus.client());
}
