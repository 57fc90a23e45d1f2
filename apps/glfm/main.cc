// glfm: the fleet manager binary. Subcommands: serve (the service), more to come.
#include <csignal>
#include <cstdio>
#include <string>

#include "common/log.h"
#include "server/http_server.h"

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd != "serve") {
    std::fprintf(stderr, "usage: glfm serve\n");
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  glfm::server::HttpServerOptions opts;
  auto server = glfm::server::HttpServer::Start(
      opts, [](glfm::server::HttpRequest&&, glfm::server::Responder r) {
        r(glfm::server::HttpResponse::Json(200, "{\"status\":\"ok\"}"));
      });
  if (!server.ok()) {
    glfm::log::Error(server.status().ToString());
    return 1;
  }
  glfm::log::Info("listening on " + (*server)->url());
  int sig = 0;
  sigwait(&set, &sig);
  (*server)->Shutdown(std::chrono::seconds(10));
  return 0;
}
