# Extra scripted tests, included by the top CMakeLists.txt (inside `if(EMBER_BUILD_TESTS)`).
# Each block belongs to one part of ember; keep blocks separate.

# ---- viz: the report, rendered in headless Chromium ------------------------------------------
# viz_report_fixture DIR writes the demonstration report (tests/viz/report_fixture.cpp) to
# DIR/index.html; render_report.sh opens it in Chromium and checks that it loads without errors
# and that every image and plot has a non-zero size. Without /usr/bin/chromium the script exits
# 77 and CTest reports the test as skipped.
add_executable(viz_report_fixture ${CMAKE_CURRENT_SOURCE_DIR}/tests/viz/report_fixture.cpp)
target_compile_definitions(viz_report_fixture PRIVATE EMBER_VIZ_FIXTURE_MAIN)
target_compile_options(viz_report_fixture PRIVATE ${EMBER_WARNINGS})
target_link_libraries(viz_report_fixture PRIVATE ember::ember)
add_test(NAME viz.report_in_chromium
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tests/viz/render_report.sh
          $<TARGET_FILE:viz_report_fixture>)
set_tests_properties(viz.report_in_chromium PROPERTIES
  SKIP_RETURN_CODE 77 TIMEOUT 180 LABELS "viz;browser")
# ---- end viz ----------------------------------------------------------------------------------

# ---- app and examples: the programs run, the chapter's report renders, the package installs ----
add_test(NAME example.quadratic COMMAND example_quadratic)
set_tests_properties(example.quadratic PROPERTIES PASS_REGULAR_EXPRESSION "step  9")
add_test(NAME example.chapter4_quick COMMAND example_chapter4 --quick)
set_tests_properties(example.chapter4_quick PROPERTIES
  PASS_REGULAR_EXPRESSION "accuracy_3s = 0.9168, accuracy_7s = 0.9854" TIMEOUT 300)
if(TARGET ember_app)
  add_test(NAME app.chapter_report_in_chromium
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tests/viz/render_report.sh
            ${CMAKE_CURRENT_SOURCE_DIR}/tests/app/chapter_report.sh)
  set_tests_properties(app.chapter_report_in_chromium PROPERTIES
    ENVIRONMENT "EMBER_BIN=${CMAKE_BINARY_DIR}/ember" SKIP_RETURN_CODE 77 TIMEOUT 300
    LABELS "viz;browser")
endif()
add_test(NAME install.find_package_consumer
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tests/install/check_install.sh ${CMAKE_BINARY_DIR})
set_tests_properties(install.find_package_consumer PROPERTIES
  PASS_REGULAR_EXPRESSION "6 8 20" TIMEOUT 300)
# ---- end app ----------------------------------------------------------------------------------
