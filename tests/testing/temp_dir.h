// TempDir: a directory of the test's own, /tmp/<prefix>-XXXXXX, removed with everything in it
// when the object goes. As a fixture's member, each test gets a fresh one.
#pragma once

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace glfm::testing {

class TempDir {
 public:
  // Aborts the test program, saying why, when the directory cannot be made.
  explicit TempDir(std::string_view prefix = "glfm-test") {
    std::string tmpl = "/tmp/" + std::string(prefix) + "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror(("mkdtemp " + tmpl).c_str());
      std::abort();
    }
    path_ = std::move(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace glfm::testing
