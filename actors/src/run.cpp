// run_until_signal: what `lightbus run` does around a worker (logging, the
// start-up banner, signals, a graceful stop), for programs that run one.

#include "lightbus/actors/run.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "lightbus/actors/errors.hpp"
#include "lightbus/allocator.hpp"
#include "lightbus/event.hpp"
#include "lightbus/features.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/plugins.hpp"
#include "lightbus/redis_url.hpp"

namespace lightbus {

// -- logging -------------------------------------------------------------------

bool setup_logging(const std::string& level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto def = std::make_shared<spdlog::logger>("lightbus", sink);
  spdlog::set_default_logger(def);
  spdlog::set_pattern(log_pattern); // lightbus/logger.hpp: one format for every program
  spdlog::set_level(spdlog::level::info);
  spdlog::cfg::load_env_levels();
  if (!level.empty()) {
    auto lvl = spdlog::level::from_str(level == "warning" ? "warn" : level);
    if (lvl == spdlog::level::off && level != "off")
      return false;
    spdlog::set_level(lvl);
  }
  return true;
}

// -- the banner ----------------------------------------------------------------

namespace {

std::string hide_password(const std::string& url) {
  auto u = parse_redis_url(url);
  return u ? to_string(*u) : url;
}

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs)
    out += (out.empty() ? "" : ", ") + x;
  return out;
}

} // namespace

void log_worker_banner(const module& mod, const config& cfg, const worker_options& opts) {
  auto log = logger("worker");
  const auto& feats = opts.features;
  log->info("lightbus worker starting: service '{}', process '{}', config {}",
            cfg.service_name(), cfg.process_name(), cfg.source());
  log->info("features: {}", to_string(feats));
  log->info("memory allocator: {}", allocator_name());
  std::vector<std::string> urls;
  auto add_url = [&](const std::string& url) {
    auto shown = hide_password(url);
    if (std::find(urls.begin(), urls.end(), shown) == urls.end())
      urls.push_back(shown);
  };
  for (const auto& served : mod.apis()) {
    const auto& def = *served.definition();
    const auto& ac = cfg.api(def.name());
    if (!feats.rpcs) {
      log->info("API '{}' is not served (feature rpcs is off); its schema is published",
                def.name());
      continue;
    }
    std::vector<std::string> procs;
    for (const auto& p : def.procedures())
      procs.push_back(p.name);
    add_url(ac.rpc_url);
    add_url(ac.result_url);
    log->info("serving API '{}' [{}] from {} on {} (at most {} calls in flight)", def.name(),
              join(procs), rpc_queue_key(def.name()), hide_password(ac.rpc_url),
              served.max_in_flight() ? served.max_in_flight() : opts.max_in_flight);
  }
  for (const auto& l : mod.listeners()) {
    if (!feats.events) {
      log->info("listener '{}' does not run (feature events is off)", l.name);
      continue;
    }
    for (const auto& e : l.events)
      if (auto names = split_qualified_name(e))
        if (auto o = event_options(cfg, names->first))
          add_url(o->url);
    log->info("listener '{}' for [{}] in group '{}'", l.name, join(l.events),
              consumer_group_name(cfg.service_name(), l.name));
  }
  for (const auto& t : mod.tasks()) {
    if (!feats.tasks) {
      log->info("task '{}' does not run (feature tasks is off)", t.name);
      continue;
    }
    log->info("task '{}': {}; on error: {}", t.name, t.when.describe(),
              to_string(t.options.on_error));
  }
  std::vector<std::string> plugins;
  if (auto state_plugin = state_plugin_options_of(cfg); state_plugin && state_plugin->enabled) {
    if (auto o = event_options(cfg, "internal.metrics"))
      add_url(o->url);
    plugins.push_back(state_plugin->ping_enabled
                        ? "internal_state (ping every "
                            + to_string(std::chrono::milliseconds(static_cast<long long>(
                              state_plugin->ping_seconds() * 1000)))
                            + ")"
                        : std::string("internal_state (no pings)"));
  }
  if (metrics_plugin_enabled(cfg)) {
    if (auto o = event_options(cfg, "internal.metrics"))
      add_url(o->url);
    plugins.push_back("internal_metrics (7 events per call and event, see docs/hooks.md)");
  }
  log->info("plugins: {}", plugins.empty() ? std::string("none") : join(plugins));
  if (!urls.empty())
    log->info("redis: {}", join(urls));
  bool runs_something = (feats.rpcs && !mod.apis().empty())
                        || (feats.events && !mod.listeners().empty())
                        || (feats.tasks && !mod.tasks().empty());
  if (!runs_something)
    log->warn("with features [{}] this worker serves no API and runs no listener or task",
              to_string(feats));
}

// -- signals -------------------------------------------------------------------

namespace {

// One pipe for the process, never closed (a signal handler may still write to
// it on another thread): a signal writes its number, the worker's end a 0.
int wake_fds[2] = {-1, -1};
std::once_flag wake_once;
std::atomic<bool> running{false};

void on_stop_signal(int sig) {
  int saved = errno;
  auto b = static_cast<unsigned char>(sig);
  [[maybe_unused]] auto n = ::write(wake_fds[1], &b, 1);
  errno = saved;
}

void wake(unsigned char what) {
  [[maybe_unused]] auto n = ::write(wake_fds[1], &what, 1);
}

// Installs the handlers and unblocks SIGINT/SIGTERM in this thread while it
// lives; restores both after.
class stop_signals {
public:
  stop_signals() {
    if (running.exchange(true))
      throw std::logic_error("run_until_signal is already running in this process");
    std::call_once(wake_once, [] {
      if (::pipe2(wake_fds, O_CLOEXEC | O_NONBLOCK) != 0)
        throw std::runtime_error("run_until_signal: pipe2 failed");
    });
    unsigned char stale[64];
    while (::read(wake_fds[0], stale, sizeof(stale)) > 0) {
    }
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
    // A program that blocked them at start (as `lightbus run` does) gets the
    // ones that arrived meanwhile now, in this thread.
    sigset_t both;
    sigemptyset(&both);
    sigaddset(&both, SIGINT);
    sigaddset(&both, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &both, &old_mask_);
  }

  ~stop_signals() {
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    running = false;
  }

  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;

  /// Blocks until a signal (returns its number) or `wake(0)` (returns 0).
  int wait() {
    for (;;) {
      pollfd p{wake_fds[0], POLLIN, 0};
      if (::poll(&p, 1, -1) < 0 && errno != EINTR)
        return 0;
      unsigned char b = 0;
      if (::read(wake_fds[0], &b, 1) == 1)
        return b;
    }
  }

private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
  sigset_t old_mask_{};
};

// ~actor_system waits for every actor, and a handler blocked in a call that
// never returns (a full pipe, a hung socket) would keep the process forever.
// While one lives, the process ends with `code` after `grace`, whatever
// handlers do; their events stay pending in Redis for the next worker.
class abandon_timer {
public:
  abandon_timer(std::chrono::milliseconds grace, int code) {
    if (grace <= std::chrono::milliseconds::zero())
      return;
    thread_ = std::thread([this, grace, code] {
      std::unique_lock<std::mutex> guard{mtx_};
      if (cv_.wait_for(guard, grace, [this] { return done_; }))
        return;
      logger("worker")->warn("handlers still running after the stop are abandoned: exiting "
                             "now (their events stay pending and are redelivered)");
      spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->flush(); });
      std::fflush(stdout);
      std::fflush(stderr);
      std::_Exit(code);
    });
  }

  ~abandon_timer() {
    if (!thread_.joinable())
      return;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  abandon_timer(const abandon_timer&) = delete;
  abandon_timer& operator=(const abandon_timer&) = delete;

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

void start_up(const module& mod, const config& cfg, const worker_options& opts,
              const run_until_signal_options& ropts) {
  if (ropts.setup_logging && !setup_logging(ropts.log_level))
    throw std::invalid_argument("run_until_signal: unknown log level '" + ropts.log_level
                                + "' (trace, debug, info, warning, error, critical, off)");
  if (!ropts.banner)
    return;
  // spawn_worker then checks every Redis the worker uses (unreachable: a
  // warning; credentials refused: the worker does not start).
  log_worker_banner(mod, cfg, opts);
}

// The exit code of a worker that ended by itself with `reason`: 0 for a
// normal end, 78 (EX_CONFIG, sysexits.h) when it could not start with its
// configuration (Redis refused its credentials), else 1.
int exit_code_of(const caf::error& reason) {
  if (!reason)
    return 0;
  return from_caf_error(reason).code == errc::invalid_config ? 78 : 1;
}

std::chrono::milliseconds stop_timeout_of(const worker_options& opts) {
  return opts.drain_timeout + std::chrono::seconds(1);
}

} // namespace

int run_until_signal(caf::actor_system& sys, const caf::actor& worker,
                     std::chrono::milliseconds stop_timeout) {
  auto log = logger("worker");
  stop_signals signals;
  // The exit code once the worker ended by itself (-1 while it runs).
  auto ended = std::make_shared<std::atomic<int>>(-1);
  // Keep the handle: an actor nobody references is terminated as unreachable.
  auto watcher = sys.spawn([worker, ended](caf::event_based_actor* self) -> caf::behavior {
    self->monitor(worker);
    self->set_down_handler([self, ended](caf::down_msg& dm) {
      *ended = exit_code_of(dm.reason);
      wake(0);
      self->quit();
    });
    return {[](int) {}};
  });
  int sig = signals.wait();
  if (sig == 0 || ended->load() >= 0) {
    log->info("worker stopped");
    return std::max(0, ended->load());
  }
  log->info("received {}: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  auto clean = stop_worker(sys, worker, stop_timeout);
  log->info(clean ? "worker stopped" : "worker stopped before all work finished");
  caf::anon_send_exit(watcher, caf::exit_reason::user_shutdown);
  return std::max(0, ended->load());
}

int run_until_signal(caf::actor_system& sys, const module& mod, const config& cfg,
                     worker_options opts, run_until_signal_options ropts) {
  start_up(mod, cfg, opts, ropts);
  auto worker = spawn_worker(sys, mod, cfg, opts);
  return run_until_signal(sys, worker, stop_timeout_of(opts));
}

int run_until_signal(const module& mod, const config& cfg, worker_options opts,
                     run_until_signal_options ropts) {
  start_up(mod, cfg, opts, ropts);
  caf::actor_system_config sys_cfg;
  configure(sys_cfg);
  auto sys = std::make_unique<caf::actor_system>(sys_cfg);
  int code = run_until_signal(*sys, spawn_worker(*sys, mod, cfg, opts), stop_timeout_of(opts));
  abandon_timer timer{ropts.abandon_after, code};
  sys.reset(); // waits for every actor, or the timer ends the process
  return code;
}

} // namespace lightbus
