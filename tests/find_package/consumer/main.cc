// Uses glfm's public API only: Json, the codecs and Status.
#include <glfm/codec.h>
#include <glfm/json.h>
#include <glfm/status.h>

#include <cstdio>

int main() {
  auto bad = glfm::Json::Parse(R"({"id":"x","player_count":"3"})");
  if (!bad.ok()) {
    return 1;
  }
  auto decoded = glfm::InstanceInfoFromJson(*bad);
  if (decoded.ok() || decoded.status().code() != glfm::StatusCode::kInvalidArgument) {
    return 1;
  }
  std::printf("%s\n", decoded.status().message().c_str());
  auto good = glfm::Json::Parse(R"({"id":"fleet-1","player_count":3})");
  auto info = glfm::InstanceInfoFromJson(*good);
  if (!info.ok()) {
    return 1;
  }
  std::printf("%s %d\n", info->id.c_str(), info->player_count);
  return 0;
}
