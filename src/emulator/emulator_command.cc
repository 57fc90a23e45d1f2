#include "emulator/emulator_command.h"

#include <string>
#include <vector>

#include "emulator/emulator.h"

namespace glfm::emulator {

cli::Command EmulatorCommand() {
  cli::Command c;
  c.name = "emulator";
  c.summary = "run the local GameLift + SQS/SNS emulator on its own";
  c.usage = "glfm emulator [--listen HOST:PORT] [--world FILE] [--manual-clock]";
  c.details =
      "Serves GameLift (AWS JSON 1.1), SQS (AWS JSON 1.0 and Query) and SNS (Query) so that\n"
      "the official AWS SDKs and CLI work against it with an endpoint override, e.g.\n"
      "  aws --endpoint-url http://127.0.0.1:PORT sqs list-queues\n"
      "The first line on stdout is `listening on http://HOST:PORT`. --world FILE loads a YAML\n"
      "world (default: the built-in one, see docs/emulator.md); --manual-clock makes time move\n"
      "only through the admin endpoint (for tests). Stops on SIGINT or SIGTERM.";
  c.run = [](const std::vector<std::string>& args, cli::Io&) {
    std::vector<std::string> owned;
    owned.reserve(args.size() + 1);
    owned.emplace_back("emulator");
    owned.insert(owned.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : owned) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    return RunEmulatorCommand(static_cast<int>(owned.size()), argv.data());
  };
  return c;
}

}  // namespace glfm::emulator
