// ConnectAws: builds the GameLift and SQS clients from glfm's settings and the environment,
// the one call a host (the fleet manager, `glfm serve`) needs.
//
//   auto aws = gamelift::ConnectAws(settings);   // region, credentials chain, endpoints
//   aws->gamelift->DescribeAlias("alias-...");
//
// Region: settings, else GL_AWS_REGION, AWS_REGION, AWS_DEFAULT_REGION, the profile's region.
// Credentials: settings, else the default chain (aws/credentials.h). Endpoints: settings,
// else AWS_ENDPOINT_URL_GAMELIFT / AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, the profile's
// endpoint_url, else AWS's public endpoints (aws/client.h).
//
// Thread-safety: ConnectAws may be called from any thread; the clients it returns are safe
// for concurrent use and block (see gamelift.h, sqs.h).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "aws/client.h"
#include "aws/credentials.h"
#include "aws/http_transport.h"
#include "gamelift/gamelift.h"
#include "gamelift/sqs.h"

namespace glfm::gamelift {

struct AwsSettings {
  std::string region;             // empty: from the environment / profile
  aws::Credentials credentials;   // empty: the default chain
  std::string profile;            // empty: AWS_PROFILE or "default"
  std::string gamelift_endpoint;  // empty: from the environment / profile / region
  std::string sqs_endpoint;
  aws::CurlTransportOptions transport;
  aws::RetryOptions retry;
  // Time limit of one attempt of each call; zero takes the transport's request timeout.
  std::chrono::milliseconds attempt_timeout{0};
};

// Owns everything; members are destroyed clients first, transport last.
struct AwsServices {
  std::unique_ptr<aws::HttpTransport> transport;
  std::unique_ptr<aws::CredentialsProvider> credentials;
  std::unique_ptr<GameLiftClient> gamelift;
  std::unique_ptr<SqsClient> sqs;
};

// Errors: invalid-argument when no region can be found, an endpoint is not http(s), or a
// shared config file does not parse. Credentials are not fetched here: a missing one
// surfaces as unauthenticated on the first call.
Result<std::unique_ptr<AwsServices>> ConnectAws(const AwsSettings& settings,
                                                aws::EnvLookup env = aws::ProcessEnv());

}  // namespace glfm::gamelift
