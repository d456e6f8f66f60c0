# Third-party packages, all from Debian (scripts/install-deps.sh).
# Imported targets are created once here so layers link by name.

find_package(Torch REQUIRED)               # libtorch-dev (CPU) or official LibTorch via CMAKE_PREFIX_PATH
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(simdjson QUIET)
find_package(GTest QUIET)
find_package(benchmark QUIET)

# Boost.Beast/Asio (header-only): the server's and the runner's HTTP layer.
find_package(Boost 1.81 REQUIRED)
find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)                # request Content-Encoding (gzip, deflate)
add_library(clipserve_beast INTERFACE)
target_link_libraries(clipserve_beast INTERFACE Boost::headers Threads::Threads)
target_compile_definitions(clipserve_beast INTERFACE BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)

pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
pkg_check_modules(TURBOJPEG REQUIRED IMPORTED_TARGET libturbojpeg)
pkg_check_modules(PNG REQUIRED IMPORTED_TARGET libpng)
pkg_check_modules(WEBP REQUIRED IMPORTED_TARGET libwebp libwebpdemux)

# oneDNN headers match the libdnnl that LibTorch itself links (2.6 on Debian).
find_path(DNNL_INCLUDE_DIR dnnl.hpp)
find_library(DNNL_LIBRARY dnnl)

# Torch's exported flags (ABI define) must reach every target that includes
# its headers; keep those includes inside src/model and src/engine.
add_library(clipserve_torch INTERFACE)
target_link_libraries(clipserve_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(clipserve_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
target_compile_options(clipserve_torch INTERFACE ${_torch_flags})

# clip-export's ONNX writer: Debian's libonnx-dev (protobuf classes + checker).
# Its CMake package needs protobuf::libprotobuf, so Protobuf comes first.
find_package(Protobuf QUIET)
if(Protobuf_FOUND)
  find_package(ONNX CONFIG QUIET)
endif()

# KServe v2 over gRPC (src/proto, the gRPC front, the runner's client):
# libgrpc++-dev through pkg-config, protoc and grpc_cpp_plugin from
# protobuf-compiler and protobuf-compiler-grpc. (Debian 12 also ships a
# gRPCConfig.cmake; pkg-config needs no c-ares/RE2/absl CMake packages.)
find_package(Protobuf REQUIRED)
pkg_check_modules(GRPCPP REQUIRED IMPORTED_TARGET grpc++)
find_program(CLIPSERVE_PROTOC protoc REQUIRED)
find_program(CLIPSERVE_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
