# scorekit_add_tool(<name> LIBS <libs...> [REQUIRES <option>])
#
# Adds the executable <name> from tools/<name>/*.cpp, installs it with man/<name>.1, and
# registers tests/cli/<name>.sh (when present) as a black-box test of the built binary.
# A tool whose REQUIRES option is OFF is skipped, so a build without LibTorch still works.
set(SCOREKIT_TOOLS "" CACHE INTERNAL "tools added by scorekit_add_tool")

function(scorekit_add_tool name)
  cmake_parse_arguments(ARG "" "REQUIRES" "LIBS" ${ARGN})
  if(ARG_REQUIRES AND NOT ${ARG_REQUIRES})
    message(STATUS "scorekit: skipping ${name} (${ARG_REQUIRES} is OFF)")
    return()
  endif()

  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tools/${name}/*.cpp)
  add_executable(${name} ${sources})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS})
  target_compile_definitions(${name} PRIVATE SCOREKIT_TOOL_NAME="${name}")
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
  install(TARGETS ${name} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

  set(page ${PROJECT_SOURCE_DIR}/man/${name}.1)
  if(NOT EXISTS ${page})
    message(FATAL_ERROR "scorekit: tool ${name} has no man page ${page}")
  endif()
  install(FILES ${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

  set(SCOREKIT_TOOLS ${SCOREKIT_TOOLS} ${name} CACHE INTERNAL "tools added by scorekit_add_tool")
endfunction()
