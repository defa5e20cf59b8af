# FindCUDNN: cuDNN's header and library for the benchmarks (CMake has no cuDNN
# module). Looks, in this order, in CUDNN_ROOT (cache or environment: a cuDNN
# install prefix, or a pip package's directory such as
# .../site-packages/nvidia/cudnn of `nvidia-cudnn-cu13`), CUDNN_HOME, the CUDA
# toolkit (CUDAToolkit_LIBRARY_ROOT / include / lib dirs), then the system.
#
# Overrides: -DCUDNN_INCLUDE_DIR=... (a directory holding cudnn.h) and
# -DCUDNN_LIBRARY=... (the library file) when header and library live apart,
# e.g. a pip package without headers plus headers carried from elsewhere.
#
# Result: CUDNN_FOUND, CUDNN_VERSION (from cudnn_version.h), CUDNN_INCLUDE_DIRS,
# CUDNN_LIBRARIES and the imported target CUDNN::cudnn.
include(FindPackageHandleStandardArgs)

set(_cudnn_roots)
foreach(_r IN ITEMS "${CUDNN_ROOT}" "$ENV{CUDNN_ROOT}" "$ENV{CUDNN_HOME}" "${CUDAToolkit_LIBRARY_ROOT}")
  if(_r)
    list(APPEND _cudnn_roots "${_r}")
  endif()
endforeach()

find_path(CUDNN_INCLUDE_DIR cudnn.h
  HINTS ${_cudnn_roots} ${CUDAToolkit_INCLUDE_DIRS}
  PATH_SUFFIXES include include/x86_64-linux-gnu targets/x86_64-linux/include
  DOC "Directory holding cudnn.h")

# pip wheels ship only the versioned library (libcudnn.so.9), Debian/NVIDIA
# packages also the unversioned link: accept both.
find_library(CUDNN_LIBRARY
  NAMES cudnn libcudnn.so.9
  HINTS ${_cudnn_roots} ${CUDAToolkit_LIBRARY_DIR}
  PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu targets/x86_64-linux/lib
  DOC "cuDNN's main library (libcudnn.so or libcudnn.so.9)")

set(CUDNN_VERSION "")
foreach(_h IN ITEMS cudnn_version.h cudnn.h)
  if(CUDNN_INCLUDE_DIR AND EXISTS "${CUDNN_INCLUDE_DIR}/${_h}" AND NOT CUDNN_VERSION)
    file(STRINGS "${CUDNN_INCLUDE_DIR}/${_h}" _cudnn_defs REGEX "^#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) +[0-9]+")
    foreach(_part MAJOR MINOR PATCHLEVEL)
      string(REGEX MATCH "CUDNN_${_part} +([0-9]+)" _m "${_cudnn_defs}")
      set(_cudnn_${_part} "${CMAKE_MATCH_1}")
    endforeach()
    if(NOT _cudnn_MAJOR STREQUAL "")
      set(CUDNN_VERSION "${_cudnn_MAJOR}.${_cudnn_MINOR}.${_cudnn_PATCHLEVEL}")
    endif()
  endif()
endforeach()

find_package_handle_standard_args(CUDNN
  REQUIRED_VARS CUDNN_LIBRARY CUDNN_INCLUDE_DIR
  VERSION_VAR CUDNN_VERSION)

if(CUDNN_FOUND)
  set(CUDNN_INCLUDE_DIRS "${CUDNN_INCLUDE_DIR}")
  set(CUDNN_LIBRARIES "${CUDNN_LIBRARY}")
  if(NOT TARGET CUDNN::cudnn)
    add_library(CUDNN::cudnn UNKNOWN IMPORTED)
    set_target_properties(CUDNN::cudnn PROPERTIES
      IMPORTED_LOCATION "${CUDNN_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${CUDNN_INCLUDE_DIR}")
  endif()
endif()
mark_as_advanced(CUDNN_INCLUDE_DIR CUDNN_LIBRARY)
