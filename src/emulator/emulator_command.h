// The `glfm emulator` subcommand (see RunEmulatorCommand in emulator/emulator.h).
//
// Thread-safety: call from the main thread.
#pragma once

#include "server/cli.h"

namespace glfm::emulator {

// Returns the `glfm emulator` command for apps/glfm/main.cc's command list.
cli::Command EmulatorCommand();

}  // namespace glfm::emulator
