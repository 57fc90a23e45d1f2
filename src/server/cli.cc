#include "server/cli.h"

#include <iostream>
#include <ostream>

#include "config/config.h"
#include "server/serve.h"

namespace glfm::cli {
namespace {

bool IsHelp(std::string_view a) { return a == "--help" || a == "-h" || a == "help"; }

const Command* Find(const std::vector<Command>& commands, std::string_view name) {
  for (const auto& c : commands) {
    if (c.name == name) {
      return &c;
    }
  }
  return nullptr;
}

void PrintOverview(const std::vector<Command>& commands, std::ostream& os) {
  os << "glfm " << server::Version()
     << " - a fleet manager for Amazon GameLift\n\n"
        "usage: glfm COMMAND [flags]\n\ncommands:\n";
  for (const auto& c : commands) {
    std::string name(c.name);
    name.resize(std::max<size_t>(name.size() + 2, 16), ' ');
    os << "  " << name << c.summary << "\n";
  }
  os << "  help [COMMAND]  show help (also: glfm COMMAND --help)\n\n"
        "Run `glfm serve` with no settings to start locally (SQLite under ./data and the\n"
        "built-in GameLift emulator). Documentation: docs/configuration.md, docs/operations.md.\n";
}

void PrintCommandHelp(const Command& c, std::ostream& os) {
  os << "usage: " << c.usage << "\n\n" << c.summary << "\n";
  if (!c.details.empty()) {
    os << "\n" << c.details << "\n";
  }
  if (c.config_flags) {
    os << "\n" << ConfigFlagsHelp();
  }
}

// Parses the configuration flags and loads the configuration; on failure prints why and sets
// `code` (usage error for bad flags, error for an invalid configuration).
bool LoadConfig(const std::vector<std::string>& args, Io& io, config::Config& out, int& code) {
  auto flags = config::ParseFlags(args);
  if (!flags.ok()) {
    io.err << "glfm: " << flags.status().message() << " (see glfm help)\n";
    code = kExitUsage;
    return false;
  }
  config::Input in;
  in.env = io.env;
  in.flags = std::move(*flags);
  auto cfg = config::Load(in);
  if (!cfg.ok()) {
    io.err << "glfm: " << cfg.status().message() << "\n";
    code = kExitError;
    return false;
  }
  out = std::move(*cfg);
  return true;
}

int Serve(const std::vector<std::string>& args, Io& io) {
  config::Config cfg;
  int code = kExitOk;
  if (!LoadConfig(args, io, cfg, code)) {
    return code;
  }
  return server::RunServe(cfg);
}

int CheckConfig(const std::vector<std::string>& args, Io& io) {
  config::Config cfg;
  int code = kExitOk;
  if (!LoadConfig(args, io, cfg, code)) {
    return code;
  }
  io.out << cfg.Describe();
  return kExitOk;
}

int PrintVersion(const std::vector<std::string>& args, Io& io) {
  if (!args.empty()) {
    io.err << "glfm: version takes no arguments\n";
    return kExitUsage;
  }
  io.out << "glfm " << server::Version() << "\n";
  return kExitOk;
}

}  // namespace

std::string ConfigFlagsHelp() {
  std::string out =
      "flags (each also settable in the YAML file given by --config FILE or GLFM_CONFIG, and by\n"
      "environment; precedence: flags > environment > file > defaults):\n"
      "  --config FILE\n      YAML configuration file.\n";
  for (const auto& s : config::Settings()) {
    out += "  " + std::string(s.flag) + " VALUE\n      " + std::string(s.help) + "\n      ";
    out += "default: " + (s.default_text.empty() ? "unset" : std::string(s.default_text));
    out += "; env: ";
    for (size_t i = 0; i < s.env.size(); ++i) {
      out += (i > 0 ? ", " : "") + std::string(s.env[i]);
    }
    out += "; YAML: " + std::string(s.key);
    if (s.secret) {
      out += "; secret (never printed)";
    }
    out += "\n";
  }
  return out;
}

std::vector<Command> BuiltinCommands() {
  return {
      {"serve", "run the fleet manager service", "glfm serve [--config FILE] [flags]",
       "Serves the HTTP API until SIGINT or SIGTERM, then stops accepting, lets in-flight\n"
       "requests finish (server.shutdown_grace) and exits 0. The first log line is\n"
       "`listening on http://HOST:PORT` with the bound port (useful with --listen HOST:0).\n"
       "Exit codes: 0 clean shutdown, 1 invalid configuration or start-up failure, 2 usage.",
       true, Serve},
      {"check-config", "print the effective configuration, secrets redacted",
       "glfm check-config [--config FILE] [flags]",
       "Loads the configuration exactly as `glfm serve` would and prints it as YAML with the\n"
       "source of each value. Exit codes: 0 valid, 1 invalid (every problem is listed), 2 usage.",
       true, CheckConfig},
      {"version", "print the version", "glfm version", "", false, PrintVersion},
  };
}

int Run(const std::vector<Command>& commands, const std::vector<std::string>& args, Io& io) {
  if (args.empty()) {
    PrintOverview(commands, io.err);
    return kExitUsage;
  }
  const std::string& name = args[0];
  if (IsHelp(name)) {
    if (args.size() == 1) {
      PrintOverview(commands, io.out);
      return kExitOk;
    }
    const Command* c = Find(commands, args[1]);
    if (c == nullptr || args.size() > 2) {
      io.err << "glfm: no help for \"" << args[1] << "\"; commands are listed by glfm help\n";
      return kExitUsage;
    }
    PrintCommandHelp(*c, io.out);
    return kExitOk;
  }
  if (name == "--version") {
    return PrintVersion({}, io);
  }
  const Command* c = Find(commands, name);
  if (c == nullptr) {
    io.err << "glfm: unknown command \"" << name << "\"\n\n";
    PrintOverview(commands, io.err);
    return kExitUsage;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const auto& a : rest) {
    if (a == "--help" || a == "-h") {
      PrintCommandHelp(*c, io.out);
      return kExitOk;
    }
  }
  return c->run(rest, io);
}

int Main(const std::vector<Command>& commands, int argc, char** argv) {
  Io io{std::cout, std::cerr, config::ProcessEnvironment()};
  std::vector<std::string> args(argv + 1, argv + argc);
  int code = Run(commands, args, io);
  std::cout.flush();
  return code;
}

}  // namespace glfm::cli
