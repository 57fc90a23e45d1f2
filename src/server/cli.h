// The `glfm` command line: subcommands, help, version and exit codes.
//
// apps/glfm/main.cc holds the list of subcommands; a module adds its own with one line there:
//
//   std::vector<cli::Command> commands = cli::BuiltinCommands();   // serve, check-config, version
//   commands.push_back(emulator::EmulatorCommand());               // glfm emulator
//   return cli::Main(commands, argc, argv);
//
// `glfm help`, `glfm --help` and `glfm help CMD` / `glfm CMD --help` print help generated from
// the commands (and, for commands that take the configuration, from config::Settings()).
//
// Thread-safety: call from the main thread.
#pragma once

#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace glfm::cli {

// Process exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;  // runtime failure or invalid configuration
inline constexpr int kExitUsage = 2;  // unknown command or flag, bad argument

// What a command may use besides its arguments (streams and environment are replaceable so
// commands run in-process in tests).
struct Io {
  std::ostream& out;
  std::ostream& err;
  std::map<std::string, std::string, std::less<>> env;
};

struct Command {
  std::string_view name;     // "serve"
  std::string_view summary;  // one line for `glfm help`
  std::string_view usage;    // "glfm serve [flags]"
  std::string_view details;  // paragraphs for `glfm help serve`
  // True when the command takes the configuration flags; its help then lists them.
  bool config_flags = false;
  // Runs with the arguments after the command name; returns the exit code.
  std::function<int(const std::vector<std::string>& args, Io& io)> run;
};

// Returns serve, check-config and version.
std::vector<Command> BuiltinCommands();

// Dispatches `args` (argv without the program name) to a command; handles help and version.
// Returns the exit code.
int Run(const std::vector<Command>& commands, const std::vector<std::string>& args, Io& io);

// Run() for main(): real streams and the process environment.
int Main(const std::vector<Command>& commands, int argc, char** argv);

// Returns the help text listing every configuration flag (for commands with config_flags).
std::string ConfigFlagsHelp();

}  // namespace glfm::cli
