// Encoders of glfm/codec.h for glfm's own modules, not part of the installed API.
#pragma once

#include <string>

#include "glfm/types.h"

namespace glfm::internal {

// AppendJson(out, v), without the "id" member when `with_id` is false: the SQLite store's
// document, whose id is the row's key.
void AppendInstanceJson(std::string& out, const InstanceInfo& v, bool with_id);

}  // namespace glfm::internal
