# Run by `cmake --install` (install(CODE) in CMakeLists.txt): writes
# conf/minisupd.service into the systemd unit directory with the paths of
# this install. The prefix is the one of the install (`--prefix DIR`, or
# CMAKE_INSTALL_PREFIX from the configure): minisupd in BINDIR, the config
# in SYSCONFDIR/minisup (/etc/minisup for the prefix /usr, as
# GNUInstallDirs has it). Expects MINISUP_UNIT_SOURCE, MINISUP_BINDIR,
# MINISUP_SYSCONFDIR and MINISUP_UNIT_DIR (each relative to the prefix, or
# absolute).
function(minisup_under_prefix out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  elseif(dir STREQUAL "etc" AND CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(${out} "/etc" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

minisup_under_prefix(bindir "${MINISUP_BINDIR}")
minisup_under_prefix(sysconfdir "${MINISUP_SYSCONFDIR}")
minisup_under_prefix(unitdir "${MINISUP_UNIT_DIR}")
file(READ "${MINISUP_UNIT_SOURCE}" unit)
string(REPLACE "/usr/local/bin/" "${bindir}/" unit "${unit}")
string(REPLACE "/etc/minisup/" "${sysconfdir}/minisup/" unit "${unit}")
set(target "$ENV{DESTDIR}${unitdir}/minisupd.service")
message(STATUS "Installing: ${target}")
file(WRITE "${target}" "${unit}")
