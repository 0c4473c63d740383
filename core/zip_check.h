// Integrity of PyTorch's zip archives (checkpoints from torch::save, TorchScript artifacts).
//
// PyTorch writes every record of its archive "stored" (uncompressed) with the record's CRC-32 in the
// zip central directory, but its reader never checks it: a flipped bit in a weight loads silently.
// verify_zip_crc reads the central directory (ZIP64 included) and recomputes the CRC-32 of every
// record's bytes. Cost: one sequential read of the file (zlib's crc32, a few GB/s).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace smlab {

/// Checks every record of the zip archive at `path` against its stored CRC-32 and size. Throws
/// UserError "<what> <path> is corrupt: record '<name>' ..." naming the first bad record, or saying
/// that the file is not a complete zip archive. `what` names the kind of file ("checkpoint").
/// Returns the number of records checked.
int64_t verify_zip_crc(const std::filesystem::path& path, const std::string& what);

}  // namespace smlab
