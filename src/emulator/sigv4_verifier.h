// The emulator's SigV4 check: verifies a request's signature against configured keys with
// glfm's own signer (aws/sigv4.h), as GameLift and SQS do.
//
// Thread-safety: the returned verifier is immutable and may be called concurrently.
#pragma once

#include <map>
#include <string>

#include "emulator/emulator.h"

namespace glfm::emulator {

// Returns a verifier accepting only requests signed with one of `keys` (access key id ->
// secret access key). Its errors: unauthenticated naming what is wrong — no Authorization
// header, a malformed one, an unknown access key id, or a signature that does not match.
SignatureVerifier MakeSigV4Verifier(std::map<std::string, std::string> keys);

}  // namespace glfm::emulator
