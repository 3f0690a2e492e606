# Installs scorekitConfig.cmake so that other CMake projects can use find_package(scorekit)
# and link scorekit::scorekit_core (and scorekit::scorekit_score when built).
include(CMakePackageConfigHelpers)

set(SCOREKIT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/scorekit)
install(EXPORT scorekitTargets NAMESPACE scorekit:: DESTINATION ${SCOREKIT_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/lib/cmake/scorekitConfig.cmake.in
  ${PROJECT_BINARY_DIR}/scorekitConfig.cmake INSTALL_DESTINATION ${SCOREKIT_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/scorekitConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/scorekitConfig.cmake ${PROJECT_BINARY_DIR}/scorekitConfigVersion.cmake
  DESTINATION ${SCOREKIT_CMAKE_DIR})
