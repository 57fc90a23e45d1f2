#include "server/cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "server/serve.h"

namespace glfm::cli {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome RunWith(const std::vector<std::string>& args,
                std::map<std::string, std::string, std::less<>> env = {},
                std::vector<Command> commands = BuiltinCommands()) {
  std::ostringstream out;
  std::ostringstream err;
  Io io{out, err, std::move(env)};
  int code = Run(commands, args, io);
  return {code, out.str(), err.str()};
}

TEST(CliTest, HelpListsCommandsAndPerCommandFlags) {
  auto overview = RunWith({"help"});
  EXPECT_EQ(overview.code, kExitOk);
  EXPECT_THAT(overview.out, AllOf(HasSubstr("usage: glfm COMMAND [flags]"),
                                  HasSubstr("  serve           run the fleet manager service"),
                                  HasSubstr("  check-config    print the effective"),
                                  HasSubstr("  version         print the version")));
  EXPECT_EQ(RunWith({"--help"}).out, overview.out);
  EXPECT_EQ(RunWith({"-h"}).out, overview.out);

  auto serve = RunWith({"help", "serve"});
  EXPECT_EQ(serve.code, kExitOk);
  EXPECT_THAT(serve.out,
              AllOf(HasSubstr("usage: glfm serve [--config FILE] [flags]"),
                    HasSubstr("listening on http://HOST:PORT"),
                    HasSubstr("  --listen VALUE\n      Address of the HTTP server"),
                    HasSubstr("default: 127.0.0.1:7350; env: GLFM_LISTEN; YAML: server.listen"),
                    HasSubstr("env: GL_AWS_REGION, AWS_REGION, AWS_DEFAULT_REGION"),
                    HasSubstr("  --http-key VALUE"), HasSubstr("secret (never printed)")));
  EXPECT_EQ(RunWith({"serve", "--help"}).out, serve.out);
  EXPECT_EQ(RunWith({"check-config", "-h"}).code, kExitOk);
  EXPECT_THAT(RunWith({"help", "version"}).out, Not(HasSubstr("--listen")));
}

TEST(CliTest, UsageErrorsExit2) {
  auto none = RunWith({});
  EXPECT_EQ(none.code, kExitUsage);
  EXPECT_THAT(none.err, HasSubstr("usage: glfm COMMAND"));
  auto unknown = RunWith({"serv"});
  EXPECT_EQ(unknown.code, kExitUsage);
  EXPECT_THAT(unknown.err, HasSubstr("glfm: unknown command \"serv\""));
  auto flag = RunWith({"serve", "--lisen", "127.0.0.1:0"});
  EXPECT_EQ(flag.code, kExitUsage);
  EXPECT_EQ(flag.err, "glfm: unknown flag --lisen (see glfm help)\n");
  EXPECT_EQ(RunWith({"check-config", "stray"}).code, kExitUsage);
  EXPECT_EQ(RunWith({"help", "nothing"}).code, kExitUsage);
  EXPECT_EQ(RunWith({"version", "x"}).code, kExitUsage);
}

TEST(CliTest, VersionPrintsIt) {
  auto v = RunWith({"version"});
  EXPECT_EQ(v.code, kExitOk);
  EXPECT_EQ(v.out, "glfm " + std::string(server::Version()) + "\n");
  EXPECT_EQ(RunWith({"--version"}).out, v.out);
}

TEST(CliTest, CheckConfigPrintsRedactedConfigOrEveryProblem) {
  std::map<std::string, std::string, std::less<>> env = {
      {"GL_AWS_REGION", "eu-west-1"},
      {"GL_AWS_ALIAS_ID", "alias-1"},
      {"GL_PLACEMENT_QUEUE_NAME", "q"},
      {"GL_PLACEMENT_EVENTS_SQS_URL", "https://sqs.eu-west-1.amazonaws.com/1/e"},
      {"GL_AWS_ACCESS_KEY", "AKIDEXAMPLE"},
      {"GL_AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-k3y"},
      {"GLFM_API_KEYS", "api-k3y"}};
  auto ok = RunWith({"check-config", "--http-key", "srv-k3y", "--listen", "127.0.0.1:0"}, env);
  EXPECT_EQ(ok.code, kExitOk) << ok.err;
  EXPECT_THAT(ok.out, AllOf(HasSubstr("# glfm effective configuration: AWS mode"),
                            HasSubstr("listen: \"127.0.0.1:0\""), HasSubstr("# flag --listen"),
                            HasSubstr("access_key_id: \"AKIDEXAMPLE\"")));
  EXPECT_EQ(ok.err, "");

  auto bad = RunWith({"check-config", "--io-threads", "-1", "--http-key", "srv-k3y"},
                     {{"AWS_REGION", "us-east-1"}, {"AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-k3y"}});
  EXPECT_EQ(bad.code, kExitError);
  EXPECT_EQ(bad.out, "");
  EXPECT_THAT(bad.err, AllOf(HasSubstr("glfm: invalid configuration (6 problems):"),
                             HasSubstr("server.io_threads (flag --io-threads)"),
                             HasSubstr("aws.access_key_id: required with aws.secret_access_key"),
                             HasSubstr("auth.api_keys: required outside local mode")));
  for (const auto& o : {ok, bad}) {
    EXPECT_THAT(o.out + o.err, AllOf(Not(HasSubstr("k3y"))));
  }
}

TEST(CliTest, ACommandIsAddedWithOneLine) {
  std::vector<Command> commands = BuiltinCommands();
  commands.push_back({"emulator", "run the emulator", "glfm emulator [flags]", "", false,
                      [](const std::vector<std::string>& args, Io& io) {
                        io.out << "emulating " << args.size();
                        return 7;
                      }});
  auto r = RunWith({"emulator", "--listen", "x"}, {}, commands);
  EXPECT_EQ(r.code, 7);
  EXPECT_EQ(r.out, "emulating 2");
  EXPECT_THAT(RunWith({"help"}, {}, commands).out, HasSubstr("  emulator        run the emulator"));
}

}  // namespace
}  // namespace glfm::cli
