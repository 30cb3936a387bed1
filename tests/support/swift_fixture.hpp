// A real S3-compatible server for tests: OpenStack Swift (s3api + tempauth) on loopback, started
// by tests/support/swift_server.py in a temp directory on free ports and killed on destruction.
// Tests can inject failures (FailNextRequests) and stop and restart the server (Kill, Restart).
// Needs Debian's swift packages (scripts/bootstrap) and a test compiled with
// STREAMGATE_SOURCE_DIR (every test is).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
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
    auto server = std::unique_ptr<SwiftServer>(new SwiftServer(pattern));
    if (!server->Launch(error)) return nullptr;
    return server;
  }

  // Stops every Swift process at once (SIGKILL, like a crashed host) but keeps the data, and
  // returns once the proxy refuses connections. Requests fail until Restart().
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);  // the servers die with the launcher (PR_SET_PDEATHSIG)
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    for (int i = 0; i < 200 && Listening(); ++i) ::usleep(50'000);
  }

  // Starts Swift again on the same ports with the same data after Kill(). Call it from a thread
  // that lives as long as the server (the launcher dies with the thread that started it).
  [[nodiscard]] bool Restart(std::string* error) {
    Kill();
    return Launch(error);
  }

  // The next `n` requests whose "METHOD /path?query" contains `match` ("" matches every
  // request) are answered with `status` by a filter in front of the proxy (swift_server.py).
  void FailNextRequests(int n, int status = 500, const std::string& match = "") {
    const std::string path = dir_ + "/faults.json";
    std::string quoted;
    for (const char c : match) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    {
      std::ofstream out(path + ".tmp", std::ios::trunc);
      out << "{\"count\": " << n << ", \"status\": " << status << ", \"match\": \"" << quoted
          << "\"}";
    }
    std::filesystem::rename(path + ".tmp", path);
  }
  // How many injected failures are still to come (0 once they all happened).
  [[nodiscard]] int FaultsLeft() const {
    std::ifstream in(dir_ + "/faults.json");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::size_t at = text.find("\"count\":");
    return at == std::string::npos ? 0 : std::atoi(text.c_str() + at + 8);
  }
  void ClearFaults() {
    std::error_code ec;
    std::filesystem::remove(dir_ + "/faults.json", ec);
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
  explicit SwiftServer(std::string dir) : dir_(std::move(dir)) {}

  // Runs swift_server.py on dir_ (a new set-up, or the saved one again) and waits for READY.
  bool Launch(std::string* error) {
    int out[2];
    if (::pipe(out) != 0) {
      *error = "pipe failed";
      return false;
    }
    const std::string script =
        std::string(STREAMGATE_SOURCE_DIR) + "/tests/support/swift_server.py";
    const pid_t pid = ::fork();
    if (pid < 0) {
      *error = "fork failed";
      return false;
    }
    if (pid == 0) {
      ::setsid();  // its own process group, so Stop() and Kill() reach every server at once
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // and a crashed test does not leave Swift running
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      ::execl("/usr/bin/python3", "/usr/bin/python3", script.c_str(), dir_.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    pid_ = pid;
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (line.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      pollfd pfd{out[0], POLLIN, 0};
      if (left <= 0 || ::poll(&pfd, 1, static_cast<int>(left)) <= 0) {
        *error = "Swift did not start within 90 s (logs in " + dir_ + ")";
        ::close(out[0]);
        return false;
      }
      char buf[256];
      const ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    if (!line.starts_with("READY ")) {
      *error = "Swift did not start: " + (line.empty() ? std::string("launcher exited") : line);
      return false;
    }
    port_ = std::atoi(line.c_str() + 6);
    return true;
  }

  bool Listening() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
  }

  pid_t pid_ = -1;
  std::string dir_;
  int port_ = 0;
};

}  // namespace streamgate::testing
