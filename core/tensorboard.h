// TensorBoard event-file writer with no protobuf or TensorFlow dependency: the Event /
// Summary messages are hand-encoded in the protobuf wire format and framed as TFRecords
// (length, masked CRC32C of the length, payload, masked CRC32C of the payload).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>

namespace smlab {

namespace tensorboard_detail {

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of `size` bytes at `data`,
/// as used by TFRecord. crc32c("123456789") == 0xE3069283.
uint32_t crc32c(const void* data, size_t size);

/// The TFRecord "masked" CRC32C: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t masked_crc32c(const void* data, size_t size);

/// PNG file bytes of a contiguous uint8 HWC tensor with 1 (grey), 3 (RGB) or 4 (RGBA) channels.
std::string encode_png(const at::Tensor& hwc);

}  // namespace tensorboard_detail

/// Writes TensorBoard event files (events.out.tfevents.<unix_time>.<hostname>.<pid>.smlab) readable by
/// tensorboard's EventAccumulator. Thread-safe; each add_* appends one Event record and flushes the
/// file, so a killed run leaves readable events. Should the name already exist (two writers opened in
/// the same second by the same process), a ".<n>" suffix makes it unique.
class TensorBoardWriter {
 public:
  /// Creates `logdir` (and parents) and writes the file_version event "brain.Event:2".
  /// Throws std::runtime_error naming the path when the folder or the file cannot be created.
  explicit TensorBoardWriter(const std::filesystem::path& logdir);

  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  /// Flushes and closes the file; never throws.
  ~TensorBoardWriter();

  /// One scalar, stored as Summary.Value.simple_value (float32, what EventAccumulator.Scalars reads).
  void add_scalar(const std::string& tag, double value, int64_t step);

  /// Several scalars at the same step: one event per tag.
  void add_scalars(const std::map<std::string, double>& tag_values, int64_t step);

  /// A histogram (HistogramProto: min, max, num, sum, sum_squares, bucket_limit, bucket) of all the
  /// values of `values` (any floating or integer dtype, any device), in `bins` equal-width buckets
  /// spanning [min, max]. NaN and infinite values are left out of every statistic; the tensor must
  /// hold at least one finite value and `bins` must be >= 1.
  void add_histogram(const std::string& tag, const at::Tensor& values, int64_t step, int bins = 30);

  /// An image, PNG-encoded. `image` is uint8 (0..255) or floating (in [0, 1]; clamped, then scaled by
  /// 255 and rounded), of shape HW (grayscale), CHW or HWC with 1 (grayscale), 3 (RGB) or 4 (RGBA)
  /// channels. A rank-3 tensor whose first dimension is 1, 3 or 4 is read as CHW, otherwise as HWC.
  void add_image(const std::string& tag, const at::Tensor& image, int64_t step);

  /// Text for TensorBoard's text plugin (markdown): SummaryMetadata plugin_name "text" and a
  /// DT_STRING tensor of shape [1] holding `text`.
  void add_text(const std::string& tag, const std::string& text, int64_t step);

  /// Flushes buffered bytes to the operating system (each add_* already does).
  void flush();

  /// The event file being written.
  const std::filesystem::path& path() const;

 private:
  void write_record(const std::string& event);

  std::filesystem::path path_;
  std::ofstream out_;
  std::mutex mutex_;
};

}  // namespace smlab
