// The small API surface: version, status strings, the SPEC 3 padding schedule
// (against hand-written tables), the per-thread last error, and that xsep.h
// compiles with the CUDA runtime header included before or after it; the
// reference running out of host memory is a status, not an exception.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bad_enum_calls.h"
#include "xsep/reference.h"
#include "xsep/xsep.h"

int xsep_header_cuda_before_check(void);  // header_cuda_before.cpp
int xsep_header_cuda_after_check(void);   // header_cuda_after.cpp

namespace {

TEST(ApiVersion, MatchesHeaderMacros) {
  EXPECT_EQ(xsep_version(),
            XSEP_VERSION_MAJOR * 10000 + XSEP_VERSION_MINOR * 100 + XSEP_VERSION_PATCH);
  EXPECT_EQ(xsep_version(), XSEP_VERSION);
#if XSEP_VERSION != XSEP_VERSION_MAJOR * 10000 + XSEP_VERSION_MINOR * 100 + XSEP_VERSION_PATCH
#error "XSEP_VERSION must be usable in #if"
#endif
}

TEST(ApiStatusString, NamesEveryStatus) {
  const struct {
    xsep_status status;
    const char* text;
  } kNames[] = {
      {XSEP_STATUS_SUCCESS, "XSEP_STATUS_SUCCESS"},
      {XSEP_STATUS_INVALID_ARGUMENT, "XSEP_STATUS_INVALID_ARGUMENT"},
      {XSEP_STATUS_UNSUPPORTED, "XSEP_STATUS_UNSUPPORTED"},
      {XSEP_STATUS_OUT_OF_MEMORY, "XSEP_STATUS_OUT_OF_MEMORY"},
      {XSEP_STATUS_DEVICE_ERROR, "XSEP_STATUS_DEVICE_ERROR"},
      {XSEP_STATUS_NO_DEVICE, "XSEP_STATUS_NO_DEVICE"},
  };
  for (const auto& n : kNames) EXPECT_STREQ(xsep_status_string(n.status), n.text);
}

TEST(ApiStatusString, UnknownValueIsUnknownStatus) {
  // 6 and 7 are in the enum's value range (valid in C++); the rest go through C.
  EXPECT_STREQ(xsep_status_string(static_cast<xsep_status>(6)), "unknown status");
  for (int v : {6, 7, 99, -1, INT32_MIN, INT32_MAX}) {
    EXPECT_STREQ(xsep_test_status_string(v), "unknown status") << v;
  }
}

// SPEC 3 written out by hand: BR, TL, BL, TR repeating; odd N ends with SYMMETRIC.
constexpr xsep_pad BR = XSEP_PAD_BOTTOM_RIGHT, TL = XSEP_PAD_TOP_LEFT, BL = XSEP_PAD_BOTTOM_LEFT,
                   TR = XSEP_PAD_TOP_RIGHT, SY = XSEP_PAD_SYMMETRIC;
const std::vector<std::vector<xsep_pad>> kSchedules = {
    /* N=1  */ {SY},
    /* N=2  */ {BR, TL},
    /* N=3  */ {BR, TL, SY},
    /* N=4  */ {BR, TL, BL, TR},
    /* N=5  */ {BR, TL, BL, TR, SY},
    /* N=6  */ {BR, TL, BL, TR, BR, TL},
    /* N=7  */ {BR, TL, BL, TR, BR, TL, SY},
    /* N=8  */ {BR, TL, BL, TR, BR, TL, BL, TR},
    /* N=9  */ {BR, TL, BL, TR, BR, TL, BL, TR, SY},
    /* N=10 */ {BR, TL, BL, TR, BR, TL, BL, TR, BR, TL},
    /* N=11 */ {BR, TL, BL, TR, BR, TL, BL, TR, BR, TL, SY},
    /* N=12 */ {BR, TL, BL, TR, BR, TL, BL, TR, BR, TL, BL, TR},
};

TEST(PaddingSchedule, MatchesSpecTableForOneToTwelveLayers) {
  for (const xsep_pad sentinel : {XSEP_PAD_TOP_LEFT, XSEP_PAD_SYMMETRIC}) {
    for (const std::vector<xsep_pad>& want : kSchedules) {
      const int32_t n = static_cast<int32_t>(want.size());
      std::vector<xsep_pad> got(want.size() + 4, sentinel);
      ASSERT_EQ(xsep_padding_schedule(n, got.data()), XSEP_STATUS_SUCCESS) << "N=" << n;
      EXPECT_EQ(std::vector<xsep_pad>(got.begin(), got.begin() + n), want) << "N=" << n;
      for (size_t i = want.size(); i < got.size(); ++i) {
        EXPECT_EQ(got[i], sentinel) << "N=" << n << " wrote past the end, at " << i;
      }
    }
  }
}

TEST(PaddingSchedule, RejectsNonPositiveLayerCountAndNullOutput) {
  const struct {
    int32_t n;
    bool null_out;
  } kBad[] = {{0, false}, {-1, false}, {INT32_MIN, false}, {3, true}, {0, true}};
  for (const auto& b : kBad) {
    std::vector<xsep_pad> out(4, XSEP_PAD_TOP_RIGHT);
    EXPECT_EQ(xsep_padding_schedule(b.n, b.null_out ? nullptr : out.data()),
              XSEP_STATUS_INVALID_ARGUMENT)
        << "n=" << b.n << " null=" << b.null_out;
    EXPECT_NE(std::string(xsep_last_error()).find("xsep_padding_schedule"), std::string::npos)
        << xsep_last_error();
    EXPECT_EQ(out, std::vector<xsep_pad>(4, XSEP_PAD_TOP_RIGHT));
  }
}

TEST(ApiLastError, IsPerThread) {
  ASSERT_EQ(xsep_padding_schedule(0, nullptr), XSEP_STATUS_INVALID_ARGUMENT);
  const std::string mine = xsep_last_error();
  ASSERT_FALSE(mine.empty());

  std::string other_before = "unset", other_after;
  std::thread t([&] {
    other_before = xsep_last_error();  // nothing has failed on this thread yet
    (void)xsep_ref_dwconv1xk(nullptr, nullptr, nullptr, 3, 1, nullptr, nullptr, nullptr);
    other_after = xsep_last_error();
  });
  t.join();
  EXPECT_EQ(other_before, "");
  EXPECT_NE(other_after.find("xsep_ref_dwconv1xk"), std::string::npos) << other_after;
  EXPECT_EQ(std::string(xsep_last_error()), mine);
}

TEST(ApiLastError, IsNeverNull) {
  std::thread t([] { EXPECT_NE(xsep_last_error(), nullptr); });
  t.join();
  EXPECT_NE(xsep_last_error(), nullptr);
}

// Sanitizers reserve terabytes of address space and abort on a failed
// allocation instead of throwing, so the test below needs a plain build (the
// CUDA build runs it in CI).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define XSEP_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define XSEP_TEST_SANITIZED 1
#endif
#endif

#if !defined(XSEP_TEST_SANITIZED)
// The process's virtual size in bytes (VmSize), or 0 when unknown.
size_t virtual_size() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  size_t kb = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "VmSize:", 7) == 0) kb = std::strtoull(line + 7, nullptr, 10);
  }
  std::fclose(f);
  return kb * 1024;
}

// In the death-test child: x and y of 32 Mi float16 elements (64 MiB each),
// then an address-space limit 128 MiB above what the process holds, so the
// reference's float64 copy of x (256 MiB) cannot be allocated. Exit code 0:
// OUT_OF_MEMORY, a message naming the function, y as poisoned; 1-3 otherwise.
int reference_out_of_memory_child() {
  const xsep_tensor_desc d{1, 1, 4096, 8192, XSEP_DTYPE_F16, XSEP_LAYOUT_NCHW};
  const size_t count = size_t(d.h) * size_t(d.w);
  std::vector<uint16_t> x(count, 0x3c00), y(count, 0xa5a5);  // x: 1.0, y: poison
  const float w[4] = {0.5f, -0.25f, 0.75f, 1.0f};
  const size_t vm = virtual_size();
  if (vm == 0) return 3;
  const rlimit limit{vm + (size_t{128} << 20), vm + (size_t{128} << 20)};
  if (setrlimit(RLIMIT_AS, &limit) != 0) return 3;
  const xsep_status s = xsep_ref_dwconv2x2(&d, x.data(), w, XSEP_PAD_TOP_LEFT, nullptr, y.data(), nullptr);
  if (s != XSEP_STATUS_OUT_OF_MEMORY) return 1;
  if (std::strstr(xsep_last_error(), "xsep_ref_dwconv2x2") == nullptr) return 1;
  for (uint16_t v : y)
    if (v != 0xa5a5) return 2;
  return 0;
}
#endif

TEST(ApiReferenceMemory, OutOfHostMemoryIsAStatusAndYUntouched) {
#if defined(XSEP_TEST_SANITIZED)
  GTEST_SKIP() << "needs a build without sanitizers (their allocators abort instead of throwing)";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::_Exit(reference_out_of_memory_child()), testing::ExitedWithCode(0), "")
      << "exit 1: wrong status or message, 2: y was written, 3: could not set the limit";
#endif
}

// Both translation units compiled, and a cudaStream_t from cuda_runtime.h is
// accepted by the API (each check returns sizeof(cudaStream_t), or -1).
TEST(HeaderCompat, CompilesWithCudaRuntimeIncludedBeforeOrAfter) {
  EXPECT_EQ(xsep_header_cuda_before_check(), static_cast<int>(sizeof(void*)));
  EXPECT_EQ(xsep_header_cuda_after_check(), static_cast<int>(sizeof(void*)));
}

}  // namespace
