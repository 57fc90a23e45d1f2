// glfm: the fleet manager binary. Everything but the list of subcommands lives in the library
// (src/server/cli.h); a module adds its subcommand with one line below.
#include "emulator/emulator_command.h"
#include "server/cli.h"

int main(int argc, char** argv) {
  std::vector<glfm::cli::Command> commands = glfm::cli::BuiltinCommands();
  commands.push_back(glfm::emulator::EmulatorCommand());
  return glfm::cli::Main(commands, argc, argv);
}
