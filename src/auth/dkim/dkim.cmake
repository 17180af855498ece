# DKIM (RFC 6376, RFC 8301, RFC 8463): verification and signing, included from
# src/auth/CMakeLists.txt. Sources join gatehouse_auth; the tests are their own binary so that
# they build and run without the SPF suite. Interop tests shell out to /usr/bin/python3 (Debian
# python3-dkim) and opendkim-tools when present and skip otherwise (scripts/install-deps --test).
target_sources(gatehouse_auth PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/parse.cpp
  ${CMAKE_CURRENT_LIST_DIR}/message.cpp
  ${CMAKE_CURRENT_LIST_DIR}/canonicalize.cpp
  ${CMAKE_CURRENT_LIST_DIR}/crypto.cpp
  ${CMAKE_CURRENT_LIST_DIR}/verify.cpp
  ${CMAKE_CURRENT_LIST_DIR}/sign.cpp)
target_link_libraries(gatehouse_auth PUBLIC OpenSSL::Crypto)

if(GATEHOUSE_TESTS)
  add_executable(gatehouse_auth_dkim_test
    ${CMAKE_CURRENT_LIST_DIR}/parse_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/canonicalize_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/crypto_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/verify_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/sign_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vectors_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/interop_test.cpp)
  target_link_libraries(gatehouse_auth_dkim_test PRIVATE gatehouse_auth GTest::gmock GTest::gtest_main)
  target_compile_definitions(gatehouse_auth_dkim_test PRIVATE
    GATEHOUSE_TEST_DATA="${PROJECT_SOURCE_DIR}/tests/data")
  gtest_discover_tests(gatehouse_auth_dkim_test DISCOVERY_TIMEOUT 30 PROPERTIES LABELS unit)
endif()
