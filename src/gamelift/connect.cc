#include "gamelift/connect.h"

#include "common/log.h"

namespace glfm::gamelift {

Result<std::unique_ptr<AwsServices>> ConnectAws(const AwsSettings& settings, aws::EnvLookup env) {
  std::string region =
      settings.region.empty() ? aws::ResolveRegion(env, settings.profile) : settings.region;
  if (region.empty()) {
    return InvalidArgumentError(
        "aws: no region configured (set GL_AWS_REGION, AWS_REGION or a profile region)");
  }
  GLFM_ASSIGN_OR_RETURN(std::string gl_url,
                        aws::ResolveEndpoint(aws::kGameLiftService, settings.gamelift_endpoint,
                                             region, env, settings.profile));
  GLFM_ASSIGN_OR_RETURN(
      std::string sqs_url,
      aws::ResolveEndpoint(aws::kSqsService, settings.sqs_endpoint, region, env, settings.profile));
  auto out = std::make_unique<AwsServices>();
  GLFM_ASSIGN_OR_RETURN(out->transport, aws::NewCurlTransport(settings.transport));
  aws::CredentialsChainOptions co;
  co.explicit_credentials = settings.credentials;
  co.profile = settings.profile;
  co.env = env;
  co.transport = out->transport.get();
  out->credentials = aws::NewDefaultCredentialsChain(std::move(co));
  auto make = [&](const aws::ServiceSpec& svc,
                  const std::string& url) -> Result<std::unique_ptr<aws::AwsClient>> {
    aws::AwsClientOptions o;
    o.service = &svc;
    o.region = region;
    o.endpoint = url;
    o.credentials = out->credentials.get();
    o.transport = out->transport.get();
    o.retry = settings.retry;
    o.attempt_timeout = settings.attempt_timeout;
    return aws::AwsClient::Create(std::move(o));
  };
  GLFM_ASSIGN_OR_RETURN(auto gl, make(aws::kGameLiftService, gl_url));
  GLFM_ASSIGN_OR_RETURN(auto sqs, make(aws::kSqsService, sqs_url));
  out->gamelift = std::make_unique<GameLiftClient>(std::move(gl));
  out->sqs = std::make_unique<SqsClient>(std::move(sqs));
  log::Info("aws clients ready", {{"region", region}, {"gamelift", gl_url}, {"sqs", sqs_url}});
  return out;
}

}  // namespace glfm::gamelift
