#include "core/env_switch.h"

#include <cstdlib>
#include <cstring>

namespace seqsam {

bool envIs(const char* name, const char* value) {
  const char* set = std::getenv(name);
  return set != nullptr && std::strcmp(set, value) == 0;
}

}  // namespace seqsam
