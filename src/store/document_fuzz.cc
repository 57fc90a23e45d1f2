// libFuzzer target for the stored instance document (make fuzz). Start-up decodes every row of
// the store with DecodeInstanceViews (spans and a metadata tape, no Json tree); everything
// else decodes with DecodeInstanceDocuments. A row damaged on disk, or written by another
// tool, must never crash glfm, and the two decoders must agree on every document:
//   - both reject it with data-loss, or both accept it;
//   - when accepted, every field is the same, the metadata tape reads back as the same Json;
//   - the accepted instance, encoded again (with and without its id), decodes to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "common/json_tape.h"
#include "store/store.h"
#include "store/store_internal.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

constexpr std::string_view kId = "arn:aws:gamelift:eu-west-1::gamesession/fleet-1/gsess-1";
constexpr int64_t kUpdateNs = 1767225600123456789;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace store = glfm::store;
  std::string_view doc(reinterpret_cast<const char*>(data), size);
  store::InstanceDocumentPage page;
  page.Add(kId, doc, kUpdateNs);

  std::vector<store::StoredInstance> tree;
  glfm::Status tree_status = store::DecodeInstanceDocuments(page, tree);
  store::InstanceViewPage views;
  glfm::Status view_status = store::DecodeInstanceViews(page, views);
  Check(tree_status.ok() == view_status.ok());
  if (!tree_status.ok()) {
    Check(tree_status.code() == glfm::StatusCode::kDataLoss);
    Check(view_status.code() == glfm::StatusCode::kDataLoss);
    return 0;
  }
  Check(tree.size() == 1 && views.rows.size() == 1);
  const store::StoredInstance& s = tree[0];
  const store::InstanceViewPage::Row& v = views.rows[0];
  Check(s.info.id == kId && views.str(v.id) == kId);
  Check(views.str(v.status) == s.info.status);
  Check(views.str(v.ip_address) == s.info.connection_info.ip_address);
  Check(views.str(v.dns_name) == s.info.connection_info.dns_name);
  Check(v.port == s.info.connection_info.port);
  Check(v.player_count == s.info.player_count);
  Check(v.create_time == s.info.create_time);
  Check(v.update_time == s.update_time);
  Check(glfm::internal::JsonFromTape(views.str(v.metadata_tape)) == s.info.metadata);

  for (bool with_id : {true, false}) {
    auto again = store::internal::DecodeInstance(
        kId, store::internal::EncodeInstance(s.info, with_id), kUpdateNs);
    Check(again.ok() && *again == s);
  }
  return 0;
}
