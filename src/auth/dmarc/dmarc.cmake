# DMARC (RFC 7489, src/auth/dmarc/) and the Public Suffix List (src/auth/psl/): their sources join
# gatehouse_auth, and their unit tests build as gatehouse_auth_dmarc_test. Included once, at the end
# of src/auth/CMakeLists.txt, so relative paths below are relative to src/auth.
# GATEHOUSE_BUNDLED_PSL is the list shipped with the build (installer/effective_tld_names.dat,
# see installer/README-psl.md), compiled into the binary by psl/bundled.cpp (.incbin):
# psl::ensure_installed() copies it into the data directory.
target_sources(gatehouse_auth PRIVATE
  psl/idna.cpp psl/list.cpp psl/holder.cpp psl/reload.cpp psl/bundled.cpp
  dmarc/record.cpp dmarc/discover.cpp dmarc/evaluate.cpp dmarc/policy.cpp dmarc/from.cpp
  dmarc/header_fields.cpp)
set(GATEHOUSE_BUNDLED_PSL_FILE "${PROJECT_SOURCE_DIR}/installer/effective_tld_names.dat")
set_source_files_properties(psl/bundled.cpp PROPERTIES
  COMPILE_DEFINITIONS "GATEHOUSE_BUNDLED_PSL=\"${GATEHOUSE_BUNDLED_PSL_FILE}\""
  OBJECT_DEPENDS "${GATEHOUSE_BUNDLED_PSL_FILE}")

if(GATEHOUSE_TESTS)
  add_executable(gatehouse_auth_dmarc_test
    psl/idna_test.cpp psl/list_test.cpp psl/suite_test.cpp psl/reload_test.cpp
    dmarc/record_test.cpp dmarc/discover_test.cpp dmarc/evaluate_test.cpp dmarc/policy_test.cpp
    dmarc/from_test.cpp)
  target_link_libraries(gatehouse_auth_dmarc_test PRIVATE gatehouse_auth GTest::gmock GTest::gtest_main)
  target_compile_definitions(gatehouse_auth_dmarc_test PRIVATE
    GATEHOUSE_TEST_DATA="${PROJECT_SOURCE_DIR}/tests/data")
  gtest_discover_tests(gatehouse_auth_dmarc_test DISCOVERY_TIMEOUT 30 PROPERTIES LABELS unit)
endif()
