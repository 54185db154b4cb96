# Debian packages with CPack (scripts/package; see docs/packaging.md):
#   lightbus         component `runtime`: the `lightbus` command, the shared libraries it
#                    needs, the example bus modules, the lightbus@.service template, lightbus(1)
#   liblightbus-dev  component `dev`: headers, the CMake package, lightbus.pc, the test kit
#
# The install rules of libs/, actors/ and apps/ have no component (CMake calls it
# "Unspecified") and stay as they are for `cmake --install`. This file installs the same
# targets and headers again into the two package components, EXCLUDE_FROM_ALL so that a plain
# `cmake --install` does not install them twice; CPack installs only `runtime` and `dev`.
# tests/package checks that the packages hold everything a plain install holds (but
# lightbus-bench), so a new install rule elsewhere cannot be forgotten here.
# Files that only packaging adds (lightbus.pc, the man page, the example modules) are installed
# by a plain `cmake --install` too; the unit file, whose paths are /usr's, only by the package.

set(LIGHTBUS_MODULE_DIR "${CMAKE_INSTALL_LIBDIR}/lightbus/modules")

# -- runtime: lightbus -------------------------------------------------------------------
install(TARGETS lightbus RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        COMPONENT runtime EXCLUDE_FROM_ALL)
install(TARGETS lightbus_core lightbus_redis lightbus_engine lightbus_actors
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime EXCLUDE_FROM_ALL)

# The demo's bus modules, for `lightbus run --bus` and the unit template (lightbus@auth).
# Their RUNPATH reaches lib/ from lib/lightbus/modules/.
if(LIGHTBUS_BUILD_EXAMPLES)
  foreach(example auth image price_monitor store)
    set_target_properties(lightbus_example_${example} PROPERTIES INSTALL_RPATH "$ORIGIN/../..")
    install(TARGETS lightbus_example_${example}
            LIBRARY DESTINATION ${LIGHTBUS_MODULE_DIR} COMPONENT runtime)
  endforeach()
endif()

# lightbus(1), gzipped as Debian installs man pages.
set(_lightbus_man "${PROJECT_BINARY_DIR}/packaging/lightbus.1.gz")
add_custom_command(OUTPUT "${_lightbus_man}"
  COMMAND gzip -9 -n -c "${PROJECT_SOURCE_DIR}/packaging/lightbus.1" > "${_lightbus_man}"
  DEPENDS "${PROJECT_SOURCE_DIR}/packaging/lightbus.1"
  COMMENT "Compressing lightbus.1" VERBATIM)
add_custom_target(lightbus_man ALL DEPENDS "${_lightbus_man}")
install(FILES "${_lightbus_man}" DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT runtime)

# The unit template names /usr paths: it is installed by the package only.
install(FILES packaging/lightbus@.service DESTINATION lib/systemd/system
        COMPONENT runtime EXCLUDE_FROM_ALL)
install(FILES README.md docs/packaging.md config/lightbus.yaml packaging/instance.yaml
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime EXCLUDE_FROM_ALL)

# -- dev: liblightbus-dev ----------------------------------------------------------------
install(DIRECTORY libs/core/include/ libs/redis/include/ libs/engine/include/ actors/include/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev EXCLUDE_FROM_ALL)
if(TARGET lightbus_testing)
  install(TARGETS lightbus_testing
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev EXCLUDE_FROM_ALL)
  # Stripping (CPACK_STRIP_FILES) leaves archives alone; drop their debug info as dh_strip does.
  install(CODE "
    if(CMAKE_INSTALL_DO_STRIP)
      execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug
        \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/$<TARGET_FILE_NAME:lightbus_testing>\"
        COMMAND_ERROR_IS_FATAL ANY)
    endif()" COMPONENT dev EXCLUDE_FROM_ALL)
endif()
install(EXPORT lightbusTargets NAMESPACE lightbus::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/lightbus COMPONENT dev EXCLUDE_FROM_ALL)
install(FILES "${PROJECT_BINARY_DIR}/lightbusConfig.cmake"
              "${PROJECT_BINARY_DIR}/lightbusConfigVersion.cmake"
              cmake/FindCAF.cmake cmake/FindHiredis.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/lightbus COMPONENT dev EXCLUDE_FROM_ALL)

# lightbus.pc: relocatable (prefix from the file's own place), so it works under /usr, under
# any `cmake --install --prefix` and in a `dpkg -x` root.
file(RELATIVE_PATH _lightbus_pc_to_prefix
  "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
string(REGEX REPLACE "/$" "" _lightbus_pc_to_prefix "${_lightbus_pc_to_prefix}")
configure_file(packaging/lightbus.pc.in "${PROJECT_BINARY_DIR}/packaging/lightbus.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/packaging/lightbus.pc"
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

# -- CPack -------------------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME lightbus)
set(CPACK_PACKAGE_VENDOR "lightbus C++")
set(CPACK_PACKAGE_CONTACT "lightbus maintainers <maintainers@users.noreply.b-seed-4bf870ae.example>"
    CACHE STRING "Maintainer field of the Debian packages")
set(CPACK_PACKAGE_HOMEPAGE_URL "https://lightbus.org")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(_lightbus_deb_version "${PROJECT_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE}")

# Depends are listed, not computed by dpkg-shlibdeps (dpkg-dev is not a build dependency):
# the packages holding the libraries the binaries are linked with on Debian 12 (libc6 and
# libstdc++6 are essential or pulled by every C++ program, and named anyway).
# tests/package resolves every NEEDED library of every packaged binary with `dpkg -S` and fails
# if its package is missing here.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME lightbus)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION net)
# lightbus dashboard: cpp-httplib, and Chart.js (read from /usr/share/javascript/chart.js at run
# time, so no NEEDED entry names it); lightbus run --metrics-port: prometheus-cpp.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS
  "libc6, libgcc-s1, libstdc++6, libcaf-core0.17, libhiredis0.14, libspdlog1.10, libfmt9, libyaml-cpp0.7, libcpp-httplib0.11, libprometheus-cpp-core1.0, libprometheus-cpp-pull1.0, libjs-chart.js, libssl3")
if(LIGHTBUS_USE_JEMALLOC) # the lightbus command links it (cmake/LightbusAllocator.cmake)
  string(APPEND CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS ", libjemalloc2")
endif()
set(CPACK_DEBIAN_RUNTIME_PACKAGE_RECOMMENDS "redis-server | redis-tools")
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
  "RPCs and events between services over Redis (C++ Lightbus)
The lightbus command runs bus modules (lightbus run), calls procedures, fires and
listens for events and inspects the event streams, speaking Python Lightbus 1.3's
Redis protocol. Includes the shared libraries, the demo's bus modules in
/usr/lib/lightbus/modules and the systemd unit template lightbus@.service.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME liblightbus-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# Headers include caf/, nlohmann/ and spdlog/ (spdlog's headers include fmt/); the CMake package
# finds CAF, nlohmann_json and spdlog. lightbus/testing.hpp includes gmock.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "lightbus (= ${_lightbus_deb_version}), libcaf-dev, nlohmann-json3-dev, libspdlog-dev, libfmt-dev")
set(CPACK_DEBIAN_DEV_PACKAGE_RECOMMENDS "cmake, pkg-config, libgmock-dev, libgtest-dev")
set(CPACK_COMPONENT_DEV_DESCRIPTION
  "development files for lightbus (C++ Lightbus)
Headers, the CMake package (find_package(lightbus) gives lightbus::lightbus,
lightbus::core, lightbus::redis, lightbus::engine, lightbus::actors and lightbus::testing)
and the pkg-config file lightbus.pc, for building bus modules and programs that use the bus.")

include(CPack)

if(LIGHTBUS_BUILD_TESTS)
  # Not in sanitizer builds: their binaries need libasan/libtsan, which no package names (a
  # package is built from the plain build).
  if(LIGHTBUS_SANITIZERS STREQUAL "")
    add_subdirectory(tests/package)
  endif()
endif()
