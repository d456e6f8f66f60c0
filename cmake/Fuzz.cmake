# The fuzz build (CLIPSERVE_FUZZ=ON, preset `fuzz`): clang-14 + libFuzzer,
# every translation unit under ASan + UBSan with coverage instrumentation
# (the preset's CMAKE_CXX_FLAGS), and only what the fuzz targets need: the
# common, image and model-formats libraries and the parsers of the server,
# batching and bench layers (tests/fuzz/CMakeLists.txt). No LibTorch, no
# HTTP stack, no tests or benchmarks.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "CLIPSERVE_FUZZ needs clang with libFuzzer: cmake --preset fuzz")
endif()

find_package(nlohmann_json 3 REQUIRED)
find_package(simdjson REQUIRED)
find_package(ZLIB REQUIRED)
pkg_check_modules(TURBOJPEG REQUIRED IMPORTED_TARGET libturbojpeg)
pkg_check_modules(PNG REQUIRED IMPORTED_TARGET libpng)
pkg_check_modules(WEBP REQUIRED IMPORTED_TARGET libwebp libwebpdemux)

add_subdirectory(src/common)
add_subdirectory(src/image)
add_subdirectory(src/model)  # clipserve_model_formats only: there is no clipserve_torch
add_subdirectory(tests/fuzz)
