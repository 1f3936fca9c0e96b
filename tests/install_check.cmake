# `cmake --install BUILD --prefix PREFIX` must put every file under PREFIX,
# whatever prefix the build was configured with.  The install goes through
# DESTDIR=STAGE/root, so a destination that ignores --prefix (an absolute
# path built from CMAKE_INSTALL_PREFIX at configure time) lands elsewhere
# inside STAGE, where this script finds it, and never on the machine.
#
#   cmake -DBUILD_DIR=... -DSTAGE=... -P install_check.cmake
cmake_minimum_required(VERSION 3.18)

set(prefix "/kw-staging-prefix")
set(root "${STAGE}/root")
file(REMOVE_RECURSE "${STAGE}")
file(MAKE_DIRECTORY "${root}")
set(ENV{DESTDIR} "${root}")
execute_process(
  COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install --prefix ${prefix} failed (${rc}):\n"
                      "${out}${err}")
endif()

file(GLOB_RECURSE installed LIST_DIRECTORIES false RELATIVE "${root}"
     "${root}/*")
if(installed STREQUAL "")
  message(FATAL_ERROR "cmake --install installed nothing under ${root}")
endif()
set(outside "")
foreach(f IN LISTS installed)
  if(NOT "/${f}" MATCHES "^${prefix}/")
    string(APPEND outside "  /${f}\n")
  endif()
endforeach()
if(NOT outside STREQUAL "")
  message(FATAL_ERROR "installed outside --prefix ${prefix}:\n${outside}")
endif()

# The files a user needs, where systemd and man look under the prefix.
foreach(f bin/keywarden lib/systemd/system/keywarden.service
          share/man/man1/keywarden.1)
  if(NOT EXISTS "${root}${prefix}/${f}")
    message(FATAL_ERROR "${prefix}/${f} was not installed")
  endif()
endforeach()
# The unit starts the binary installed with it.
file(READ "${root}${prefix}/lib/systemd/system/keywarden.service" unit)
if(NOT unit MATCHES "\nExecStart=${prefix}/bin/keywarden serve\n" OR
   NOT unit MATCHES "\nExecStartPre=${prefix}/bin/keywarden config check\n")
  message(FATAL_ERROR "the installed unit does not start "
                      "${prefix}/bin/keywarden:\n${unit}")
endif()
file(REMOVE_RECURSE "${STAGE}")
message(STATUS "every installed file is under ${prefix}")
