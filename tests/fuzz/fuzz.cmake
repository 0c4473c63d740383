# The fuzz build (CMakePresets.json preset `fuzz`, scripts/fuzz.sh): clang's libFuzzer with ASan and
# UBSan over smlab's parsing code only, a subset of the library's sources, plus one executable per
# harness (tests/fuzz/fuzz_<name>.cpp). Included by the top-level CMakeLists.txt when SMLAB_FUZZ is
# ON, in place of the library and the test suites. The same harness functions are replayed over the
# seed corpora and the saved regressions by tests/unit/test_fuzz_regressions.cpp in the normal build.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "SMLAB_FUZZ needs clang (libFuzzer): configure with `cmake --preset fuzz`")
endif()

# The readers the harnesses drive, and what they call. Free of OpenCV; only writers.cpp (the score
# output writers, which the journal's merge consults) needs LibTorch at link time.
set(SMLAB_FUZZ_PARSING_SOURCES
  core/atomic_file.cpp core/components.cpp core/config.cpp core/config_override.cpp core/file_lock.cpp
  core/experiment_schema.cpp core/text.cpp core/zip_check.cpp
  datasets/csv.cpp datasets/hdf5_io.cpp datasets/hdf5_vlen_check.cpp datasets/pack_read.cpp datasets/tar_reader.cpp
  models/input_kind.cpp trainers/train_state.cpp
  inference/artifact.cpp inference/journal.cpp inference/readers.cpp inference/uncertainty.cpp
  inference/writers.cpp)
list(TRANSFORM SMLAB_FUZZ_PARSING_SOURCES PREPEND "${CMAKE_SOURCE_DIR}/")

set(SMLAB_FUZZ_FLAGS -g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=all)
add_library(smlab_fuzz_parsing STATIC ${SMLAB_FUZZ_PARSING_SOURCES})
target_compile_options(smlab_fuzz_parsing PUBLIC ${SMLAB_FUZZ_FLAGS}
  PRIVATE -fsanitize=fuzzer-no-link,address,undefined -Wall -Wextra -Wno-unused-parameter)
target_include_directories(smlab_fuzz_parsing PUBLIC "${CMAKE_SOURCE_DIR}" "${CMAKE_BINARY_DIR}/generated")
# Headers only (artifact.h and writers.h include LibTorch's); the library is linked by the journal harness.
target_include_directories(smlab_fuzz_parsing SYSTEM PUBLIC ${TORCH_INCLUDE_DIRS} ${HDF5_C_INCLUDE_DIRS})
target_compile_options(smlab_fuzz_parsing PUBLIC ${TORCH_CXX_FLAGS})
target_link_libraries(smlab_fuzz_parsing PUBLIC yaml-cpp nlohmann_json::nlohmann_json ${HDF5_C_LIBRARIES}
  ZLIB::ZLIB Threads::Threads)

file(GLOB SMLAB_FUZZ_HARNESSES CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.cpp")
foreach(src ${SMLAB_FUZZ_HARNESSES})
  get_filename_component(name "${src}" NAME_WE)
  add_executable(${name} "${src}")
  target_compile_definitions(${name} PRIVATE SMLAB_FUZZ_MAIN=1)
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(${name} PRIVATE smlab_fuzz_parsing)
  set_target_properties(${name} PROPERTIES BUILD_RPATH "${TORCH_INSTALL_PREFIX}/lib")
endforeach()
target_link_libraries(fuzz_journal PRIVATE torch)
