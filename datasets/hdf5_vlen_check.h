// A guard in front of libhdf5's variable-length string reads (datasets/hdf5_io.cpp read_strings).
//
// A variable-length string is stored as a reference (length, global-heap collection address,
// object index) into a "GCOL" collection elsewhere in the file. libhdf5 1.10.8's H5HG_read trusts
// what it finds there: an index past the collection's objects, or an object larger than the
// reference says, makes it copy from or into the wrong memory (found by tests/fuzz/fuzz_hdf5.cpp:
// ASan memcpy-param-overlap, then a segfault). So before H5Dread follows any reference, this reads
// the dataset's chunks itself (H5Dread_chunk, undoing smlab's shuffle + deflate filters), reads every
// referenced collection straight from the file, and requires each reference to name an object
// that exists, lies inside its collection, and has exactly the referenced length.
#pragma once
#include <hdf5.h>

#include <filesystem>
#include <string>

namespace smlab::datasets::h5 {

/// Throws UserError naming `path` and `name` when dataset `ds` (n variable-length strings, as smlab's
/// packer writes them: one-dimensional, chunked, shuffle and/or deflate) is laid out otherwise or has
/// a reference libhdf5 could not follow safely. A dataset of fixed-length strings passes (no heap).
void check_vlen_strings(hid_t ds, hsize_t n, const std::filesystem::path& path, const std::string& name);

}  // namespace smlab::datasets::h5
