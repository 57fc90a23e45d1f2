// glfm_emulator: the emulator on its own, for tests and scripts until `glfm emulator` wires
// the same entry point (RunEmulatorCommand).
#include "emulator/emulator.h"

int main(int argc, char** argv) { return glfm::emulator::RunEmulatorCommand(argc, argv); }
