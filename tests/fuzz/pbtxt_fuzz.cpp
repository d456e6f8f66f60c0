// config.pbtxt (Triton model configuration, protobuf text format):
// ParseTritonConfig (batching/triton_config.cpp over batching/pbtxt.cpp),
// then ToBatcherConfig, as the server reads a model repository. A config
// that parses is written back (WriteTritonConfig) and must read back to the
// same text: the writer's documented round trip.
#include <string>

#include "batching/triton_config.h"
#include "fuzz_support.h"

using namespace clipserve;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto config = batching::ParseTritonConfig(fuzz::AsText(data, size), "config.pbtxt");
  if (!config.ok()) {
    FUZZ_CHECK(!config.status().message().empty());
    return 0;
  }
  (void)config->TotalInstanceCount();
  (void)batching::ToBatcherConfig(*config);
  const std::string written = batching::WriteTritonConfig(*config);
  auto reread = batching::ParseTritonConfig(written, "written.pbtxt");
  if (!reread.ok()) std::fprintf(stderr, "%s\n---\n%s\n", reread.status().message().c_str(), written.c_str());
  FUZZ_CHECK(reread.ok());
  FUZZ_CHECK(batching::WriteTritonConfig(*reread) == written);
  return 0;
}
