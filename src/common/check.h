// GLFM_CHECK: aborts loudly when an invariant of glfm's own code is broken.
//
// Never for input from the network, AWS or the database: those are Status errors.
#pragma once

#include <cstdio>
#include <cstdlib>

#define GLFM_CHECK(cond)                                                                        \
  do {                                                                                          \
    if (!(cond)) [[unlikely]] {                                                                 \
      std::fprintf(stderr, "glfm: invariant broken at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                             \
    }                                                                                           \
  } while (false)
