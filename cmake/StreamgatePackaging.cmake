# CPack: Debian packages from the install rules (cmake/StreamgateInstall.cmake).
#
#   cpack -G DEB --config build/<dir>/CPackConfig.cmake
#
# gives two packages:
#   streamgate      the daemon, streamgatectl, /etc/streamgate/streamgate.yaml (a conffile),
#                   the systemd unit, the example config and GeoIP database under
#                   /usr/share/streamgate. Its maintainer scripts (packaging/debian/) create the
#                   `streamgate` system user and /var/lib/streamgate, and enable the unit; they
#                   start it only when systemd runs (not in a container or a chroot).
#   streamgate-dev  headers, static libraries, the CMake package and streamgate.pc.
# Runtime library dependencies come from dpkg-shlibdeps.

set(CPACK_PACKAGE_NAME streamgate)
set(CPACK_PACKAGE_VENDOR "StreamGate")
set(CPACK_PACKAGE_CONTACT "StreamGate maintainers <streamgate@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_HOMEPAGE_URL "https://github.com/streamgate/streamgate")
set(CPACK_RESOURCE_FILE_README ${PROJECT_SOURCE_DIR}/README.md)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)
set(CPACK_STRIP_FILES TRUE)
set(CPACK_GENERATOR DEB)
set(CPACK_SOURCE_GENERATOR "")

set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_COMPONENTS_ALL runtime development)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # streamgate_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME streamgate)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
# adduser for the maintainer scripts; init-system-helpers for deb-systemd-helper/-invoke.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "adduser, init-system-helpers (>= 1.50)")
# A Debian description: the summary line, then the paragraphs. (CPACK_PACKAGE_DESCRIPTION_SUMMARY
# stays unset: CPack would put it first in both packages.)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
    "Multi-region gateway: failover, global load balancing, CDN edge cache, disaster recovery
StreamGate keeps a streaming service available and fast across regions: health-checked
regions with automatic failover, an HTTP reverse proxy over backends, an edge cache and
backups measured against RPO and RTO. The streamgate.service unit runs it as the streamgate
user on /etc/streamgate/streamgate.yaml; streamgatectl talks to its admin API.")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm
    ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME streamgate-dev)
# What find_package(streamgate) and streamgate.pc look for.
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
    "libboost1.81-dev, libssl-dev, libyaml-cpp-dev, libspdlog-dev, libfmt-dev, libcli11-dev, \
nlohmann-json3-dev, libsqlite3-dev, libzstd-dev, libsodium-dev, libmaxminddb-dev, \
libcurl4-openssl-dev, libxxhash-dev, liblzma-dev, pkg-config")
set(CPACK_DEBIAN_DEVELOPMENT_DESCRIPTION
    "StreamGate C++23 libraries (static) and headers
The multi-region manager, global load balancer, CDN manager and disaster recovery manager
as C++23 static libraries and headers, with a CMake package (find_package(streamgate),
targets streamgate::scaling and others) and a pkg-config file (streamgate.pc).")

include(CPack)
cpack_add_component(runtime DISPLAY_NAME "Daemon and command-line tools")
cpack_add_component(development DISPLAY_NAME "Libraries and headers")
