// `glfm serve` in-process in local mode (the emulator, a real SQLite file in a temp dir), over
// real sockets: the status RPCs exactly as Nakama answers them, the /v1 API and the README flow.

#include "server/app.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "glfm/json.h"
#include "testing/app_harness.h"
#include "testing/http_client.h"
#include "testing/http_receiver.h"
#include "testing/status_matchers.h"

namespace glfm::server {
namespace {

using glfm::testing::HttpClient;
using glfm::testing::HttpResult;
using ::testing::HasSubstr;

using testing::AppTest;
using testing::Encode;
using testing::Quote;

TEST_F(AppTest, LocalModeBannerAndPersistentKey) {
  Start(Config());
  EXPECT_EQ(key().size(), 32u);
  std::string banner = app_->Banner();
  EXPECT_THAT(banner, HasSubstr("LOCAL MODE"));
  EXPECT_THAT(banner, HasSubstr(app_->url() + "/v2/rpc/update_instance_info?http_key=" + key()));
  EXPECT_THAT(banner, HasSubstr(app_->emulator_url()));
  EXPECT_EQ(Call("GET", "/readyz").status, 200);
  std::string first = key();
  app_.reset();
  Start(Config());
  EXPECT_EQ(key(), first);  // kept in <data_dir>/local_http_key
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/data/glfm.db"));
}

TEST_F(AppTest, RpcAuthFailuresAnswerLikeNakama) {
  Start(Config());
  const std::string body = Quote(R"({"id":"x"})");
  auto none = Call("POST", "/v2/rpc/update_instance_info", body);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(
      none.body,
      R"({"code":16,"error":"Auth token or HTTP key required","message":"Auth token or HTTP key required"})");
  auto wrong = Call("POST", "/v2/rpc/update_instance_info?http_key=nope", body);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.body, R"({"code":16,"error":"HTTP key invalid","message":"HTTP key invalid"})");
  // Basic base64("nope:")
  auto basic_wrong =
      Call("POST", "/v2/rpc/update_instance_info", body, {{"Authorization", "Basic bm9wZTo="}});
  EXPECT_EQ(basic_wrong.status, 401);
  EXPECT_EQ(basic_wrong.body,
            R"({"code":16,"error":"HTTP key invalid","message":"HTTP key invalid"})");
  auto bearer = Call("POST", "/v2/rpc/update_instance_info", body,
                     {{"Authorization", "Bearer some.session.token"}});
  EXPECT_EQ(bearer.status, 401);
  EXPECT_EQ(bearer.body,
            R"({"code":16,"error":"Auth token invalid","message":"Auth token invalid"})");
  auto garbage =
      Call("POST", "/v2/rpc/update_instance_info", body, {{"Authorization", "Basic !!!"}});
  EXPECT_EQ(garbage.status, 401);

  // The right key as Basic base64(KEY:) works (an unknown id deletes idempotently).
  std::string b64;
  {
    static constexpr char kB64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string in = key() + ":";
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
      uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
      for (int k = 18; k >= 0; k -= 6) b64.push_back(kB64[(n >> k) & 63]);
    }
    if (in.size() - i == 1) {
      uint32_t n = uint8_t(in[i]) << 16;
      b64 += std::string{kB64[(n >> 18) & 63], kB64[(n >> 12) & 63], '=', '='};
    } else if (in.size() - i == 2) {
      uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
      b64 += std::string{kB64[(n >> 18) & 63], kB64[(n >> 12) & 63], kB64[(n >> 6) & 63], '='};
    }
  }
  auto basic = Call("POST", "/v2/rpc/delete_instance_info", Quote(R"({"id":"arn:none"})"),
                    {{"Authorization", "Basic " + b64}});
  EXPECT_EQ(basic.status, 200) << basic.body;
  EXPECT_EQ(basic.body, R"({"payload":""})");
}

TEST_F(AppTest, RpcErrorsUnknownOversizedMalformed) {
  Start(Config());
  auto unknown = Call("POST", Rpc("no_such_rpc"), Quote("{}"));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.body,
            R"({"code":5,"error":"RPC function not found","message":"RPC function not found"})");

  auto big = Call("POST", Rpc("update_instance_info"), Quote(std::string(8000, 'x')));
  EXPECT_EQ(big.status, 400);
  EXPECT_THAT(big.body, HasSubstr(R"("code":3)"));
  EXPECT_THAT(big.body, HasSubstr("over the limit of 4096 bytes"));

  // Without unwrap the body must be a JSON string literal.
  auto raw = Call("POST", Rpc("update_instance_info"), R"({"id":"x"})");
  EXPECT_EQ(raw.status, 400);
  EXPECT_THAT(raw.body, HasSubstr(R"({"code":3,"error":"Unable to unmarshal payload)"));

  // Bad JSON inside the payload is invalid-argument, never internal.
  auto bad = Call("POST", Rpc("update_instance_info"), Quote("{not json"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body,
              HasSubstr(R"({"code":3,"error":{"Code":3,"Message":"payload: not valid JSON)"));
  auto bad_unwrap = Call("POST", Rpc("update_instance_info") + "&unwrap", "{not json");
  EXPECT_EQ(bad_unwrap.status, 400);
  EXPECT_THAT(bad_unwrap.body, HasSubstr(R"("code":3)"));
  // unwrap with an empty value counts too.
  auto empty_unwrap = Call("POST", Rpc("delete_instance_info") + "&unwrap=", R"({"id":"arn:x"})");
  EXPECT_EQ(empty_unwrap.status, 200) << empty_unwrap.body;
  EXPECT_EQ(empty_unwrap.body, "");
  // An oversized /v1 body answers in the /v1 error form.
  auto big_v1 = Call("POST", "/v1/placements", std::string(8000, ' '));
  EXPECT_EQ(big_v1.status, 400);
  EXPECT_EQ(big_v1.body, R"({"code":3,"message":"request body over the limit of 4096 bytes"})");
  auto no_id = Call("POST", Rpc("update_instance_info") + "&unwrap", R"({"player_count":1})");
  EXPECT_EQ(no_id.status, 400);
  EXPECT_EQ(
      no_id.body,
      R"({"code":3,"error":{"Code":3,"Message":"id: required, a game session ARN"},"message":"id: required, a game session ARN"})");
  auto bad_count =
      Call("POST", Rpc("update_instance_info") + "&unwrap", R"({"id":"a","playerCount":"3"})");
  EXPECT_EQ(bad_count.status, 400);
  EXPECT_THAT(bad_count.body, HasSubstr("playerCount: expected an integer"));
  auto missing =
      Call("POST", Rpc("update_instance_info") + "&unwrap",
           R"({"id":"arn:aws:gamelift:us-east-1::gamesession/fleet-local/none","player_count":1})");
  EXPECT_EQ(missing.status, 404) << missing.body;
  EXPECT_THAT(missing.body, HasSubstr(R"({"code":5,"error":{"Code":5,)"));
}

TEST_F(AppTest, ReadmeFlowEndToEnd) {
  glfm::testing::HttpReceiver webhook;
  Start(Config());
  // Create: the outcome comes both to the long poll and to the webhook.
  Json inst = CreateInstance(
      R"({"max_players":10,"user_ids":["u1"],"latencies":[{"user_id":"u1","latency_ms":20,"region":"us-east-1"}],"metadata":{"GameProperties":{"mode":"ctf"}},"webhook_url":")" +
      webhook.url() + R"("})");
  std::string arn = inst.Find("id")->as_string();
  ASSERT_THAT(arn, HasSubstr("gamesession/"));
  Json pushed = *Json::Parse(webhook.Wait(1)[0].body);
  EXPECT_EQ(pushed.Find("status")->as_string(), "success");
  EXPECT_EQ(pushed.Find("instance_info")->Find("id")->as_string(), arn);

  Json listed = List("+value.metadata.GameProperties.mode:ctf");
  ASSERT_EQ(listed.Find("instances")->as_array().size(), 1u) << listed.Dump();
  EXPECT_EQ(listed.Find("instances")->as_array()[0].Find("id")->as_string(), arn);

  auto join = Call("POST", "/v1/instances/" + Encode(arn) + "/join",
                   R"({"user_ids":["u2","u3"],"metadata":{"u2":"data"}})");
  ASSERT_EQ(join.status, 200) << join.body;
  EXPECT_EQ(Json::Parse(join.body)->Find("session_info")->as_array().size(), 2u) << join.body;

  // The seed README's update payload, verbatim but for the ARN: string body, playerCount.
  std::string readme_update = R"({
  "id": ")" + arn + R"(",
  "playerCount": 10,
  "metadata": {
    "GameSessionData": "<game_session_data>",
    "GameSessionName": "<game_session_name>",
    "GameProperties": {
      "key1": "value1",
      "key2": "value2"
    }
  }
})";
  auto upd = Call("POST", Rpc("update_instance_info"), Quote(readme_update));
  ASSERT_EQ(upd.status, 200) << upd.body;
  EXPECT_EQ(upd.body, R"({"payload":""})");
  Json l10 = List("+value.player_count:10 +value.metadata.GameProperties.key1:value1");
  ASSERT_EQ(l10.Find("instances")->as_array().size(), 1u) << l10.Dump();
  EXPECT_EQ(l10.Find("instances")->as_array()[0].Find("player_count")->as_int64(), 10);

  // unwrap, player_count, case-insensitive id: only the keys present overwrite.
  auto upd2 = Call("POST", Rpc("UPDATE_Instance_Info") + "&unwrap",
                   R"({"id":")" + arn + R"(","player_count":3})");
  ASSERT_EQ(upd2.status, 200) << upd2.body;
  EXPECT_EQ(upd2.body, "");
  Json l3 = List("+value.player_count:3");
  ASSERT_EQ(l3.Find("instances")->as_array().size(), 1u) << l3.Dump();
  EXPECT_EQ(
      l3.Find("instances")->as_array()[0].Find("metadata")->Find("GameSessionName")->as_string(),
      "<game_session_name>");

  // GET form with the payload in the query.
  auto get_form = Call("GET", Rpc("update_instance_info") + "&unwrap&payload=" +
                                  Encode(R"({"id":")" + arn + R"(","playerCount":4})"));
  ASSERT_EQ(get_form.status, 200) << get_form.body;
  EXPECT_EQ(List("+value.player_count:4").Find("instances")->as_array().size(), 1u);

  // The seed README's delete payload, verbatim but for the ARN.
  std::string readme_delete = R"({
  "id": ")" + arn + R"("
})";
  auto del = Call("POST", Rpc("delete_instance_info"), Quote(readme_delete));
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(del.body, R"({"payload":""})");
  EXPECT_EQ(List("").Find("instances")->as_array().size(), 0u);

  std::string metrics = Call("GET", "/metrics").body;
  EXPECT_THAT(metrics,
              HasSubstr(R"(glfm_rpc_requests_total{rpc="update_instance_info",code="OK"})"));
  EXPECT_THAT(metrics, HasSubstr(R"(glfm_placements_total{outcome="success"})"));
}

TEST_F(AppTest, V1InstancesPatchGetDeleteAndErrors) {
  Start(Config());
  Json inst = CreateInstance(R"({"max_players":4})");
  std::string path = "/v1/instances/" + Encode(inst.Find("id")->as_string());
  auto patch = Call("PATCH", path, R"({"player_count":2,"metadata":{"GameSessionName":"n"}})");
  EXPECT_EQ(patch.status, 204) << patch.body;
  auto got = Call("GET", path);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(Json::Parse(got.body)->Find("metadata")->Find("GameSessionName")->as_string(), "n");

  auto bad = Call("POST", "/v1/placements", R"({"max_players":"four"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body, R"({"code":3,"message":"max_players: expected an integer, got string"})");
  auto bad_limit = Call("GET", "/v1/instances?limit=0");
  EXPECT_EQ(bad_limit.status, 400);
  EXPECT_EQ(Call("GET", "/v1/placements/nope").status, 404);
  auto bad_query = Call("GET", "/v1/instances?query=" + Encode("value.x:/[/"));
  EXPECT_EQ(bad_query.status, 400) << bad_query.body;

  EXPECT_EQ(Call("DELETE", path).status, 204);
  EXPECT_EQ(List("").Find("instances")->as_array().size(), 0u);
}

TEST_F(AppTest, V1RequiresApiKeyWhenConfigured) {
  config::Config c = Config();
  c.auth.api_keys = {"k1", "k2"};
  Start(c);
  auto none = Call("GET", "/v1/instances");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.body, R"j({"code":16,"message":"API key required (Authorization: Bearer KEY)"})j");
  auto wrong = Call("GET", "/v1/instances", "", {{"Authorization", "Bearer k3"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.body, R"({"code":16,"message":"API key invalid"})");
  EXPECT_EQ(Call("GET", "/v1/instances", "", {{"Authorization", "Bearer k2"}}).status, 200);
}

TEST_F(AppTest, LongPollAnswersPendingWhenItsWaitEnds) {
  Start(Config());
  auto created = Call("POST", "/v1/placements", R"({"max_players":2})");
  ASSERT_EQ(created.status, 202);
  std::string pid = Json::Parse(created.body)->Find("placement_id")->as_string();
  // A zero wait answers at once with whatever the state is.
  auto now = Call("GET", "/v1/placements/" + pid);
  EXPECT_EQ(now.status, 200);
  auto cancel = Call("DELETE", "/v1/placements/" + pid);
  // Either it was cancelled, or it already had an outcome (failed-precondition).
  EXPECT_TRUE(cancel.status == 202 || cancel.status == 400) << cancel.body;
  auto done = Call("GET", "/v1/placements/" + pid + "?wait=30");
  ASSERT_EQ(done.status, 200);
  std::string status = Json::Parse(done.body)->Find("status")->as_string();
  EXPECT_TRUE(status == "cancelled" || status == "success") << done.body;
}

}  // namespace
}  // namespace glfm::server
