// libFuzzer target for the query parser and evaluator (make fuzz).
//
// Each input is parsed as a query; a query that parses is run against a small index in the
// default order and in a custom one, and the input is also offered as a cursor. Nothing may
// crash, leak, hit undefined behaviour or take super-linear time; errors must be
// invalid-argument.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "index/index.h"
#include "index/query.h"

namespace {

glfm::index::InstanceIndex* BuildIndex() {
  auto* index = new glfm::index::InstanceIndex();
  for (int i = 0; i < 20; ++i) {
    glfm::InstanceInfo info;
    info.id = "gs-" + std::to_string(i);
    info.player_count = i % 5;
    info.status = i % 3 ? "ACTIVE" : "ACTIVATING";
    info.create_time = glfm::Timestamp(std::chrono::seconds(1700000000 + i * 7));
    info.metadata["GameProperties"]["mode"] = i % 2 ? "ranked" : "casual";
    info.metadata["GameSessionName"] = "room " + std::to_string(i);
    info.metadata["level"] = i - 10;
    info.metadata["tags"] = glfm::Json(glfm::Json::Array{glfm::Json("a"), glfm::Json(i)});
    if (!index->Upsert(info, info.create_time).ok()) std::abort();
  }
  return index;
}

void CheckError(const glfm::Status& s) {
  if (!s.ok() && s.code() != glfm::StatusCode::kInvalidArgument) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static glfm::index::InstanceIndex* index = BuildIndex();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto q = glfm::index::ParseQuery(text);
  CheckError(q.status());
  if (q.ok()) {
    auto r = index->Query(text, 3);
    CheckError(r.status());
    if (r.ok() && !r->cursor.empty()) CheckError(index->Query(text, 3, r->cursor).status());
    CheckError(index->Query(text, 5, "", {"-value.metadata.level", "value.tags"}).status());
  }
  CheckError(index->Query("", 3, text).status());
  return 0;
}
