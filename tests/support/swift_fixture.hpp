// A real S3-compatible server for tests: OpenStack Swift (s3api + tempauth) on loopback, started
// by tests/support/swift_server.py in a temp directory on free ports and killed on destruction.
// Needs Debian's swift packages (scripts/bootstrap) and a test compiled with
// STREAMGATE_SOURCE_DIR (every test is).
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

namespace streamgate::testing {

class SwiftServer {
 public:
  // Starts Swift and waits until its proxy answers (about 3-5 s). nullptr and `error` on failure.
  static std::unique_ptr<SwiftServer> Start(std::string* error) {
    std::string pattern = (std::filesystem::temp_directory_path() / "sg-swift-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      *error = "mkdtemp failed";
      return nullptr;
    }
    int out[2];
    if (::pipe(out) != 0) {
      *error = "pipe failed";
      return nullptr;
    }
    const std::string script =
        std::string(STREAMGATE_SOURCE_DIR) + "/tests/support/swift_server.py";
    const pid_t pid = ::fork();
    if (pid < 0) {
      *error = "fork failed";
      return nullptr;
    }
    if (pid == 0) {
      ::setsid();  // its own process group, so the destructor can stop every server at once
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // and a crashed test does not leave Swift running
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      ::execl("/usr/bin/python3", "/usr/bin/python3", script.c_str(), pattern.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    auto server = std::unique_ptr<SwiftServer>(new SwiftServer(pid, pattern));
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (line.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      pollfd pfd{out[0], POLLIN, 0};
      if (left <= 0 || ::poll(&pfd, 1, static_cast<int>(left)) <= 0) {
        *error = "Swift did not start within 90 s (logs in " + pattern + ")";
        ::close(out[0]);
        return nullptr;
      }
      char buf[256];
      const ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    if (!line.starts_with("READY ")) {
      *error = "Swift did not start: " + (line.empty() ? std::string("launcher exited") : line);
      return nullptr;
    }
    server->port_ = std::atoi(line.c_str() + 6);
    return server;
  }

  ~SwiftServer() { Stop(); }
  SwiftServer(const SwiftServer&) = delete;
  SwiftServer& operator=(const SwiftServer&) = delete;

  // Stops every Swift process (SIGTERM, then SIGKILL) and removes its data.
  void Stop() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGTERM);
      int status = 0;
      for (int i = 0; i < 100; ++i) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) break;
        ::usleep(50'000);
        if (i == 99) {
          ::kill(-pid_, SIGKILL);
          ::waitpid(pid_, &status, 0);
        }
      }
      ::kill(-pid_, SIGKILL);  // any server the launcher did not reap
      pid_ = -1;
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      dir_.clear();
    }
  }

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] static std::string access_key() { return "test:tester"; }
  [[nodiscard]] static std::string secret_key() { return "testing"; }
  [[nodiscard]] static std::string region() { return "us-east-1"; }

 private:
  SwiftServer(pid_t pid, std::string dir) : pid_(pid), dir_(std::move(dir)) {}
  pid_t pid_ = -1;
  std::string dir_;
  int port_ = 0;
};

}  // namespace streamgate::testing
