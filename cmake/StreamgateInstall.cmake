# Install rules and the exported CMake package (issue 7).
#
#   bin/streamgate, bin/streamgatectl                       component "runtime"
#   etc/streamgate/streamgate.yaml (/etc when prefix /usr)   component "runtime"
#   share/streamgate/ (example config, GeoIP database)      component "runtime"
#   lib/systemd/system/streamgate.service                   component "runtime"
#   include/streamgate/, lib/libstreamgate_*.a              component "development"
#   lib/cmake/streamgate/ (find_package(streamgate))        component "development"
#   lib/pkgconfig/streamgate.pc                             component "development"
#
# Every static library of src/ (streamgate_<folder>) is exported as streamgate::<folder>, with
# its dependencies: the package config file finds them again (find_dependency, or pkg-config
# for the libraries Debian ships without CMake files), so `find_package(streamgate)` followed by
# `target_link_libraries(app streamgate::scaling)` links everything scaling needs. The same
# names exist in the build tree as aliases, so examples/ builds in-tree and out-of-tree alike.
#
# Included from the top-level CMakeLists.txt after src/ and apps/.

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(STREAMGATE_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/streamgate)

# The component libraries: every static library defined in src/.
get_property(_sg_src_targets DIRECTORY ${PROJECT_SOURCE_DIR}/src PROPERTY BUILDSYSTEM_TARGETS)
set(STREAMGATE_COMPONENT_TARGETS "")
foreach(_sg_target IN LISTS _sg_src_targets)
  get_target_property(_sg_type ${_sg_target} TYPE)
  if(_sg_type STREQUAL "STATIC_LIBRARY" AND _sg_target MATCHES "^streamgate_(.+)$")
    list(APPEND STREAMGATE_COMPONENT_TARGETS ${_sg_target})
  endif()
endforeach()

foreach(_sg_target IN LISTS STREAMGATE_COMPONENT_TARGETS)
  string(REGEX REPLACE "^streamgate_" "" _sg_name ${_sg_target})
  set_target_properties(${_sg_target} PROPERTIES EXPORT_NAME ${_sg_name})
  # The include directories given in src/CMakeLists.txt (include/, src/ with its private headers,
  # generated ones) hold in the build tree only; installed users see <prefix>/include.
  get_target_property(_sg_dirs ${_sg_target} INTERFACE_INCLUDE_DIRECTORIES)
  set(_sg_wrapped "")
  foreach(_sg_dir IN LISTS _sg_dirs)
    if(_sg_dir MATCHES "^\\$<")  # already a generator expression
      list(APPEND _sg_wrapped "${_sg_dir}")
    elseif(_sg_dir)
      list(APPEND _sg_wrapped "$<BUILD_INTERFACE:${_sg_dir}>")
    endif()
  endforeach()
  list(APPEND _sg_wrapped "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
  set_property(TARGET ${_sg_target} PROPERTY INTERFACE_INCLUDE_DIRECTORIES "${_sg_wrapped}")
  # The public headers use C++23 (std::expected): users compile with it too.
  target_compile_features(${_sg_target} INTERFACE cxx_std_23)
  add_library(streamgate::${_sg_name} ALIAS ${_sg_target})
endforeach()
if(TARGET streamgate)  # the interface library linking every component
  set_target_properties(streamgate PROPERTIES EXPORT_NAME streamgate)
  add_library(streamgate::streamgate ALIAS streamgate)
endif()

# Dependencies of the exported targets, as the package config file must find them again.
# Internal links (streamgate_*) and plain flags need nothing; each imported target maps to a
# find_dependency call (or a pkg-config module) and, for streamgate.pc, to pkg-config modules.
set(_sg_find_lines "")
set(_sg_pc_requires "")
set(_sg_pc_libs_extra "")
set(_sg_seen_deps "")
set(_sg_unknown "")
function(_sg_dependency_for item out_find out_pc)
  set(find "")
  set(pc "")
  if(item MATCHES "^PkgConfig::(.+)$")
    set(prefix ${CMAKE_MATCH_1})
    set(module "${${prefix}_MODULE_NAME}")  # set by pkg_check_modules for one module
    if(module STREQUAL "")
      set(find "UNKNOWN")
    else()
      set(find "pkg:${prefix}:${module}")
      set(pc "${module}")
    endif()
  elseif(item STREQUAL "Threads::Threads")
    set(find "find_dependency(Threads)")
  elseif(item MATCHES "^Boost::")
    # Asio/Beast are compiled into streamgate_net: the same Boost version must be used.
    set(find "find_dependency(Boost ${Boost_VERSION} EXACT CONFIG)")
  elseif(item MATCHES "^OpenSSL::(SSL|Crypto)$")
    set(find "find_dependency(OpenSSL)")
    if(item STREQUAL "OpenSSL::SSL")
      set(pc "libssl")
    else()
      set(pc "libcrypto")
    endif()
  elseif(item STREQUAL "CURL::libcurl")
    set(find "find_dependency(CURL)")
    set(pc "libcurl")
  elseif(item STREQUAL "yaml-cpp" OR item STREQUAL "yaml-cpp::yaml-cpp")
    set(find "find_dependency(yaml-cpp)")
    set(pc "yaml-cpp")
  elseif(item MATCHES "^fmt::")
    set(find "find_dependency(fmt)")
    set(pc "fmt")
  elseif(item MATCHES "^spdlog::")
    set(find "find_dependency(spdlog)")
    set(pc "spdlog")
  elseif(item MATCHES "^CLI11::")
    set(find "find_dependency(CLI11)")
  elseif(item MATCHES "^nlohmann_json::")
    set(find "find_dependency(nlohmann_json)")
    set(pc "nlohmann_json")
  elseif(item MATCHES "^SQLite::")
    set(find "find_dependency(SQLite3)")
    set(pc "sqlite3")
  elseif(item MATCHES "^ZLIB::")
    set(find "find_dependency(ZLIB)")
    set(pc "zlib")
  elseif(TARGET ${item})
    set(find "UNKNOWN")
  endif()
  set(${out_find} "${find}" PARENT_SCOPE)
  set(${out_pc} "${pc}" PARENT_SCOPE)
endfunction()

foreach(_sg_target IN LISTS STREAMGATE_COMPONENT_TARGETS)
  get_target_property(_sg_links ${_sg_target} LINK_LIBRARIES)
  get_target_property(_sg_ilinks ${_sg_target} INTERFACE_LINK_LIBRARIES)
  foreach(_sg_item IN LISTS _sg_links _sg_ilinks)
    if(NOT _sg_item OR _sg_item MATCHES "NOTFOUND$")
      continue()
    endif()
    string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" _sg_item "${_sg_item}")
    if(_sg_item MATCHES "^streamgate_" OR _sg_item IN_LIST _sg_seen_deps)
      continue()
    endif()
    list(APPEND _sg_seen_deps "${_sg_item}")
    _sg_dependency_for("${_sg_item}" _sg_find _sg_pc)
    if(_sg_find STREQUAL "UNKNOWN")
      list(APPEND _sg_unknown "${_sg_item} (linked by ${_sg_target})")
    elseif(_sg_find)
      if(NOT _sg_find IN_LIST _sg_find_lines)
        list(APPEND _sg_find_lines "${_sg_find}")
      endif()
      if(_sg_pc AND NOT _sg_pc IN_LIST _sg_pc_requires)
        list(APPEND _sg_pc_requires "${_sg_pc}")
      endif()
    elseif(_sg_item MATCHES "^-")
      list(APPEND _sg_pc_libs_extra "${_sg_item}")
    elseif(NOT _sg_item MATCHES "::")
      list(APPEND _sg_pc_libs_extra "-l${_sg_item}")
    endif()
  endforeach()
endforeach()
if(_sg_unknown)
  message(WARNING "streamgate: the exported package does not know how to find these "
                  "dependencies: ${_sg_unknown}. Add them to _sg_dependency_for in "
                  "cmake/StreamgateInstall.cmake, or find_package(streamgate) will fail.")
endif()
# Libraries Debian ships without CMake files come through pkg-config, as in src/CMakeLists.txt.
set(STREAMGATE_FIND_DEPENDENCIES "")
foreach(_sg_line IN LISTS _sg_find_lines)
  if(_sg_line MATCHES "^pkg:([^:]+):(.+)$")
    set(_sg_prefix ${CMAKE_MATCH_1})
    set(_sg_module ${CMAKE_MATCH_2})
    if(NOT STREAMGATE_FIND_DEPENDENCIES MATCHES "find_dependency\\(PkgConfig\\)")
      string(APPEND STREAMGATE_FIND_DEPENDENCIES "find_dependency(PkgConfig)\n")
    endif()
    string(APPEND STREAMGATE_FIND_DEPENDENCIES
           "pkg_check_modules(${_sg_prefix} QUIET IMPORTED_TARGET ${_sg_module})\n"
           "if(NOT ${_sg_prefix}_FOUND)\n"
           "  set(streamgate_FOUND FALSE)\n"
           "  set(streamgate_NOT_FOUND_MESSAGE \"pkg-config module ${_sg_module} not found\")\n"
           "  return()\n"
           "endif()\n")
  else()
    string(APPEND STREAMGATE_FIND_DEPENDENCIES "${_sg_line}\n")
  endif()
endforeach()

# Link order for streamgate.pc: a library before everything it links (depth-first, reversed).
set(_sg_ordered "")
function(_sg_visit target)
  get_property(visited GLOBAL PROPERTY _SG_VISITED)
  if(target IN_LIST visited)
    return()
  endif()
  set_property(GLOBAL APPEND PROPERTY _SG_VISITED ${target})
  get_target_property(links ${target} LINK_LIBRARIES)
  get_target_property(ilinks ${target} INTERFACE_LINK_LIBRARIES)
  foreach(item IN LISTS links ilinks)
    string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" item "${item}")
    if(item IN_LIST STREAMGATE_COMPONENT_TARGETS)
      _sg_visit(${item})
    endif()
  endforeach()
  set_property(GLOBAL APPEND PROPERTY _SG_POSTORDER ${target})
endfunction()
set_property(GLOBAL PROPERTY _SG_VISITED "")
set_property(GLOBAL PROPERTY _SG_POSTORDER "")
foreach(_sg_target IN LISTS STREAMGATE_COMPONENT_TARGETS)
  _sg_visit(${_sg_target})
endforeach()
get_property(_sg_postorder GLOBAL PROPERTY _SG_POSTORDER)
list(REVERSE _sg_postorder)
set(STREAMGATE_PC_LIBS "")
foreach(_sg_target IN LISTS _sg_postorder)
  string(APPEND STREAMGATE_PC_LIBS " -l${_sg_target}")
endforeach()
list(REMOVE_DUPLICATES _sg_pc_libs_extra)
list(JOIN _sg_pc_libs_extra " " _sg_extra)
string(APPEND STREAMGATE_PC_LIBS " ${_sg_extra} -pthread")
string(STRIP "${STREAMGATE_PC_LIBS}" STREAMGATE_PC_LIBS)
list(JOIN _sg_pc_requires " " STREAMGATE_PC_REQUIRES)

# Binaries.
install(TARGETS streamgate_app streamgatectl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        COMPONENT runtime)

# Libraries, headers and the exported package.
set(_sg_export_targets ${STREAMGATE_COMPONENT_TARGETS})
if(TARGET streamgate)
  list(APPEND _sg_export_targets streamgate)
endif()
install(TARGETS ${_sg_export_targets} EXPORT streamgateTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/streamgate
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development)
# `cmake --install --strip` (and CPack, which strips) drops the static libraries' debug info.
set(_sg_code [[
  if(CMAKE_INSTALL_DO_STRIP)
    file(GLOB _sg_archives "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/@CMAKE_INSTALL_LIBDIR@/libstreamgate_*.a")
    foreach(_sg_archive IN LISTS _sg_archives)
      execute_process(COMMAND "@CMAKE_STRIP@" --strip-debug "${_sg_archive}")
    endforeach()
  endif()
]])
string(CONFIGURE "${_sg_code}" _sg_code @ONLY)
install(CODE "${_sg_code}" COMPONENT development)
install(EXPORT streamgateTargets NAMESPACE streamgate:: DESTINATION ${STREAMGATE_INSTALL_CMAKEDIR}
        COMPONENT development)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/streamgateConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/cmake/streamgateConfig.cmake
                              INSTALL_DESTINATION ${STREAMGATE_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/streamgateConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/streamgateConfig.cmake
              ${PROJECT_BINARY_DIR}/cmake/streamgateConfigVersion.cmake
        DESTINATION ${STREAMGATE_INSTALL_CMAKEDIR} COMPONENT development)
configure_file(${PROJECT_SOURCE_DIR}/cmake/streamgate.pc.in ${PROJECT_BINARY_DIR}/cmake/streamgate.pc
               @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cmake/streamgate.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT development)

# Service files: the packaged config (paths of an installed system), the repository's example,
# the GeoIP database with its licence, and the systemd unit.
install(FILES ${PROJECT_SOURCE_DIR}/config/streamgate.example.yaml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/streamgate COMPONENT runtime)
if(EXISTS ${PROJECT_SOURCE_DIR}/data/geoip/geo-whois-asn-country.mmdb)
  install(FILES ${PROJECT_SOURCE_DIR}/data/geoip/geo-whois-asn-country.mmdb
                ${PROJECT_SOURCE_DIR}/data/geoip/NRO_LICENSE
                ${PROJECT_SOURCE_DIR}/data/geoip/VERSION
          DESTINATION ${CMAKE_INSTALL_DATADIR}/streamgate/geoip COMPONENT runtime)
endif()
install(FILES ${PROJECT_SOURCE_DIR}/packaging/streamgate.service
        DESTINATION lib/systemd/system COMPONENT runtime)
# The config belongs in /etc for a /usr install (Debian), else under the prefix. Decided when
# installing, since CPack installs the same build tree with its own prefix.
set(_sg_code [[
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(_sg_confdir "/etc/streamgate")
  else()
    set(_sg_confdir "${CMAKE_INSTALL_PREFIX}/etc/streamgate")
  endif()
  file(INSTALL DESTINATION "${_sg_confdir}" TYPE FILE
       FILES "@PROJECT_SOURCE_DIR@/packaging/streamgate.yaml")
]])
string(CONFIGURE "${_sg_code}" _sg_code @ONLY)
install(CODE "${_sg_code}" COMPONENT runtime)
