# Finds hiredis and defines hiredis::hiredis (Debian's HiredisConfig.cmake has no target).
find_path(HIREDIS_INCLUDE_DIR NAMES hiredis/hiredis.h)
find_library(HIREDIS_LIBRARY NAMES hiredis)
if(HIREDIS_INCLUDE_DIR)
  file(STRINGS "${HIREDIS_INCLUDE_DIR}/hiredis/hiredis.h" _h REGEX "^#define HIREDIS_(MAJOR|MINOR|PATCH) [0-9]+")
  string(REGEX REPLACE ".*HIREDIS_MAJOR ([0-9]+).*" "\\1" _ma "${_h}")
  string(REGEX REPLACE ".*HIREDIS_MINOR ([0-9]+).*" "\\1" _mi "${_h}")
  string(REGEX REPLACE ".*HIREDIS_PATCH ([0-9]+).*" "\\1" _pa "${_h}")
  set(HIREDIS_VERSION "${_ma}.${_mi}.${_pa}")
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Hiredis
  REQUIRED_VARS HIREDIS_LIBRARY HIREDIS_INCLUDE_DIR VERSION_VAR HIREDIS_VERSION)
if(Hiredis_FOUND AND NOT TARGET hiredis::hiredis)
  add_library(hiredis::hiredis UNKNOWN IMPORTED)
  set_target_properties(hiredis::hiredis PROPERTIES
    IMPORTED_LOCATION "${HIREDIS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${HIREDIS_INCLUDE_DIR}")
endif()
mark_as_advanced(HIREDIS_INCLUDE_DIR HIREDIS_LIBRARY)
