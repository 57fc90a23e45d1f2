// A throw-away PostgreSQL 15 server for tests and benchmarks.
//
//   auto server = glfm::testing::PostgresServer::Start();   // initdb + pg_ctl start
//   auto conninfo = (*server)->CreateDatabase();             // a fresh database per test
//   ...                                                      // the destructor stops it
//
// Start() runs initdb into a new temporary directory, picks a free loopback port, puts the
// unix socket in the same directory and starts the server with pg_ctl; the destructor stops
// it (immediate mode) and removes the directory. As root the server runs as the `postgres`
// system user (PostgreSQL refuses to run as root). Logins over TCP need the password
// (scram-sha-256), so tests can check that errors never leak it. Binaries come from
// $GLFM_PG_BINDIR, else /usr/lib/postgresql/15/bin.
//
// SharedPostgres() starts one server per process on first use. Tests that need PostgreSQL
// fail with the reason when it cannot start; only GLFM_SKIP_POSTGRES=1 (which CI never sets)
// turns that into a skip — see PostgresSkipRequested().
//
// Header-only so that test and benchmark programs can use it without another library.
// Thread-safety: a PostgresServer may be used from several threads for CreateDatabase and
// Exec (an internal mutex guards the admin connection); Start and the destructor are not
// concurrent with anything.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "glfm/status.h"

namespace glfm::testing {

// Returns true when GLFM_SKIP_POSTGRES=1: the only way to skip PostgreSQL tests.
inline bool PostgresSkipRequested() {
  const char* v = std::getenv("GLFM_SKIP_POSTGRES");
  return v != nullptr && std::string(v) == "1";
}

class PostgresServer {
 public:
  static constexpr char kUser[] = "glfm";
  static constexpr char kPassword[] = "pg-test-Secret-7e3f";

  // Starts a fresh cluster. Errors: unavailable naming the step that failed, with the tail
  // of its output.
  static Result<std::unique_ptr<PostgresServer>> Start() {
    std::unique_ptr<PostgresServer> s(new PostgresServer());
    Status st = s->DoStart();
    if (!st.ok()) {
      return st;
    }
    return s;
  }

  ~PostgresServer() {
    if (admin_ != nullptr) {
      PQfinish(admin_);
    }
    if (started_) {
      Run({bin_ + "/pg_ctl", "-D", dir_ + "/data", "-m", "immediate", "-w", "stop"},
          "pg_ctl stop")
          .IgnoreError();
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

  // Returns a libpq connection string for `dbname` over TCP with the password.
  std::string ConnInfo(const std::string& dbname) const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + dbname +
           " user=" + kUser + " password=" + kPassword;
  }

  // Creates a new empty database and returns its connection string.
  Result<std::string> CreateDatabase() {
    std::string name;
    {
      std::lock_guard lock(mu_);
      name = "glfm_test_" + std::to_string(++databases_);
    }
    Status s = Exec("CREATE DATABASE " + name);
    if (!s.ok()) {
      return s;
    }
    return ConnInfo(name);
  }

  // Runs `sql` on database `dbname` ("" for the admin database). Errors: internal with the
  // server's message.
  Status Exec(const std::string& sql, const std::string& dbname = "") {
    std::lock_guard lock(mu_);
    PGconn* c = admin_;
    PGconn* own = nullptr;
    if (!dbname.empty()) {
      own = PQconnectdb(ConnInfo(dbname).c_str());
      c = own;
    }
    Status out;
    if (PQstatus(c) != CONNECTION_OK) {
      out = UnavailableError(std::string("postgres test server: ") + PQerrorMessage(c));
    } else {
      PGresult* r = PQexec(c, sql.c_str());
      ExecStatusType st = PQresultStatus(r);
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        out = InternalError("postgres test server: " + sql + ": " + PQresultErrorMessage(r));
      }
      PQclear(r);
    }
    if (own != nullptr) {
      PQfinish(own);
    }
    return out;
  }

 private:
  PostgresServer() = default;

  Status DoStart() {
    const char* env_bin = std::getenv("GLFM_PG_BINDIR");
    bin_ = env_bin != nullptr ? env_bin : "/usr/lib/postgresql/15/bin";
    if (access((bin_ + "/initdb").c_str(), X_OK) != 0) {
      return UnavailableError("postgres test server: no initdb in " + bin_ +
                              " (install the `postgresql` package or set GLFM_PG_BINDIR)");
    }
    char tmpl[] = "/tmp/glfm-pg-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      return UnavailableError("postgres test server: mkdtemp failed");
    }
    dir_ = tmpl;
    if (geteuid() == 0) {
      // PostgreSQL refuses to run as root: run it as the `postgres` system user.
      passwd* pw = getpwnam("postgres");
      if (pw == nullptr) {
        return UnavailableError(
            "postgres test server: running as root and there is no `postgres` user to run "
            "the server as");
      }
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
      if (chown(dir_.c_str(), uid_, gid_) != 0) {
        return UnavailableError("postgres test server: chown " + dir_ + " failed");
      }
    }
    std::string pwfile = dir_ + "/pwfile";
    {
      std::ofstream f(pwfile);
      f << kPassword << "\n";
    }
    if (uid_ != 0 && chown(pwfile.c_str(), uid_, gid_) != 0) {
      return UnavailableError("postgres test server: chown " + pwfile + " failed");
    }
    Status s = Run({bin_ + "/initdb", "-D", dir_ + "/data", "-U", kUser, "--pwfile=" + pwfile,
                    "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8",
                    "--locale=C", "--no-sync", "--no-instructions"},
                   "initdb");
    if (!s.ok()) {
      return s;
    }
    // A port that was free a moment ago can be taken before the server binds it: retry.
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = FreePort();
      if (port_ == 0) {
        return UnavailableError("postgres test server: no free loopback port");
      }
      std::string opts = "-p " + std::to_string(port_) + " -k " + dir_ +
                         " -c listen_addresses=127.0.0.1 -c max_connections=300"
                         " -c shared_buffers=128MB -c max_wal_size=1GB";
      s = Run({bin_ + "/pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/server.log", "-w", "-t",
               "60", "-o", opts, "start"},
              "pg_ctl start");
      if (s.ok()) {
        break;
      }
      if (Tail(dir_ + "/server.log").find("could not bind") == std::string::npos) {
        return s;
      }
    }
    if (!s.ok()) {
      return s;
    }
    started_ = true;
    admin_ = PQconnectdb(ConnInfo("postgres").c_str());
    if (PQstatus(admin_) != CONNECTION_OK) {
      return UnavailableError(std::string("postgres test server: cannot connect: ") +
                              PQerrorMessage(admin_));
    }
    return OkStatus();
  }

  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
      return 0;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    int port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    close(fd);
    return port;
  }

  static std::string Tail(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string s = ss.str();
    return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
  }

  // Runs argv (as the postgres user when root) with output in dir_/cmd.log.
  Status Run(const std::vector<std::string>& argv, const std::string& what) const {
    std::string log = dir_ + "/cmd.log";
    pid_t pid = fork();
    if (pid < 0) {
      return UnavailableError("postgres test server: fork failed for " + what);
    }
    if (pid == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      if (uid_ != 0) {
        if (fd >= 0 && fchown(fd, uid_, gid_) != 0) {
          _exit(126);
        }
        if (setgroups(0, nullptr) != 0 || setgid(gid_) != 0 || setuid(uid_) != 0) {
          _exit(126);
        }
      }
      if (chdir(dir_.c_str()) != 0) {
        _exit(126);
      }
      std::vector<char*> args;
      for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
      }
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      return OkStatus();
    }
    std::string out = Tail(log);
    if (what == "pg_ctl start") {
      out += "\n--- server.log ---\n" + Tail(dir_ + "/server.log");
    }
    return UnavailableError("postgres test server: " + what + " failed (status " +
                            std::to_string(status) + "):\n" + out);
  }

  std::string bin_;
  std::string dir_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  int port_ = 0;
  bool started_ = false;
  std::mutex mu_;
  PGconn* admin_ = nullptr;
  int databases_ = 0;
};

// Returns the server shared by this process, starting it on first use; it stops when the
// process exits normally. Errors: why the server could not start (every later call returns
// the same error).
inline Result<PostgresServer*> SharedPostgres() {
  static std::mutex mu;
  static std::unique_ptr<PostgresServer> server;
  static Status error;
  std::lock_guard lock(mu);
  if (server == nullptr && error.ok()) {
    auto s = PostgresServer::Start();
    if (s.ok()) {
      server = std::move(*s);
    } else {
      error = s.status();
    }
  }
  if (!error.ok()) {
    return error;
  }
  return server.get();
}

}  // namespace glfm::testing
