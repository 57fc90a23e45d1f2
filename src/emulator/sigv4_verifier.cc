#include "emulator/sigv4_verifier.h"

#include <memory>

#include "aws/sigv4.h"

namespace glfm::emulator {

SignatureVerifier MakeSigV4Verifier(std::map<std::string, std::string> keys) {
  auto shared = std::make_shared<const std::map<std::string, std::string>>(std::move(keys));
  return [shared](const server::HttpRequest& req) -> Status {
    const std::string* header = req.Header("authorization");
    if (header == nullptr) {
      return UnauthenticatedError("request is not signed: no Authorization header");
    }
    auto auth = aws::ParseAuthorization(*header);
    if (!auth.ok()) {
      return UnauthenticatedError(auth.status().message());
    }
    auto key = shared->find(auth->access_key_id);
    if (key == shared->end()) {
      return UnauthenticatedError("the access key id " + auth->access_key_id +
                                  " is not known to this emulator");
    }
    Status s = aws::VerifySignature(req.method, req.path, req.query, req.headers, req.body, *auth,
                                    key->second);
    if (!s.ok()) {
      return UnauthenticatedError(s.message());
    }
    return OkStatus();
  };
}

}  // namespace glfm::emulator
