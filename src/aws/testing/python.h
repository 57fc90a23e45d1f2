// Runs one of the python3 helper scripts of src/aws/testdata/ (botocore as the reference)
// over JSON lines, for the integration tests.
//
// Thread-safety: call from one test thread.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace glfm::aws::testing {

// Returns the output lines of `python3 <script> < input`, or one line "ERROR ..." when the
// script cannot run. `script` is relative to src/aws/testdata/.
inline std::vector<std::string> RunPythonLines(const std::string& script,
                                               const std::vector<std::string>& input) {
  namespace fs = std::filesystem;
  static int counter = 0;
  fs::path in = fs::temp_directory_path() /
                ("glfm_py_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  {
    std::ofstream f(in);
    for (const auto& l : input) f << l << "\n";
  }
  std::string cmd = "python3 " + std::string(GLFM_SOURCE_DIR) + "/src/aws/testdata/" + script +
                    " < " + in.string() + " 2>&1";
  std::vector<std::string> out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {"ERROR popen failed"};
  std::string line;
  char buf[4096];
  while (fgets(buf, sizeof(buf), p) != nullptr) {
    line += buf;
    if (!line.empty() && line.back() == '\n') {
      line.pop_back();
      out.push_back(line);
      line.clear();
    }
  }
  if (!line.empty()) out.push_back(line);
  int rc = pclose(p);
  std::error_code ec;
  fs::remove(in, ec);
  if (rc != 0) out.push_back("ERROR exit status " + std::to_string(rc));
  return out;
}

}  // namespace glfm::aws::testing
