# glfm_add_test(NAME name SOURCES a_test.cc ... [LABELS unit|integration ...])
#
# Builds one GoogleTest executable and registers each of its tests with ctest. Unit tests
# (label `unit`) are the ones `make test` runs a second time under ASan + UBSan.
function(glfm_add_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LABELS;LIBS" ${ARGN})
  if(NOT GLFM_BUILD_TESTS)
    return()
  endif()
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  if(GLFM_ONLY_UNIT_TESTS AND NOT "unit" IN_LIST T_LABELS)
    return()
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE glfm_testing ${T_LIBS})
  gtest_discover_tests(${T_NAME}
    PROPERTIES LABELS "${T_LABELS}"
    DISCOVERY_TIMEOUT 60)
endfunction()
