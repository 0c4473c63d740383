// Video clips from files and frame folders (decoded with OpenCV) or from packed HDF5 clip
// shards: the temporal sampling and the spatial crop / flip shared by the `video_folder` and
// `hdf5_clips` datasets and by `smlab pack --kind video` (see docs/video.md).
#pragma once
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace smlab::datasets::clips {

/// How the frames of a clip are chosen from a video of n frames.
///   uniform:        the video is cut into `frames` equal segments and each gives one frame:
///                   a random one in training, the middle one in evaluation (TSN sampling);
///   random_offset:  `frames` frames `stride` apart (a window of (frames - 1) * stride + 1),
///                   starting at a random offset in training, centred in evaluation.
/// With `clips` > 1 (multi-clip evaluation), clip k of K takes the windows' starts, or the
/// positions inside the segments, evenly spread over the video instead of the centre.
/// A video shorter than the window repeats its last frame.
enum class Sampling { Uniform, RandomOffset };
Sampling parse_sampling(const std::string& name);

/// Frame indices (0 .. n-1, non-decreasing) of clip `clip` of `clips`. `jitter` = null for
/// evaluation (deterministic); else training draws from it and `clip`/`clips` are ignored.
std::vector<int64_t> frame_indices(int64_t n, int64_t frames, int64_t stride, Sampling sampling, int64_t clip,
                                   int64_t clips, at::Generator* jitter);

/// One source clip: a video file or a folder of frame images.
struct Source {
  std::filesystem::path path;
  int64_t label = 0;
  bool is_folder = false;
  int64_t frame_count = 0;
};

/// Lists class subfolders of `root` (sorted names = classes) and, in each, the video files
/// (.avi .mp4 .mkv .mov .webm .mpg .mpeg .m4v) and frame folders (sub-folders of images), with
/// their frame counts. Hidden entries (".name") are ignored; any other file, an unreadable
/// video or an empty frame folder is an error naming it (UserError).
std::vector<Source> list_sources(const std::filesystem::path& root, std::vector<std::string>* classes);

/// Decodes the frames at `indices` (non-decreasing) of a source as 8-bit RGB (or gray when
/// `gray`). A video whose stream ends early repeats its last decoded frame. Throws UserError
/// naming the file when nothing can be decoded.
std::vector<cv::Mat> read_frames(const Source& source, const std::vector<int64_t>& indices, bool gray);

/// Spatial processing applied identically to every frame of a clip.
struct Spatial {
  int64_t resize = 0;  ///< scale so that the shorter side is `resize` (0 = keep)
  int64_t size = 0;    ///< then crop size x size (0 = keep)
  bool flip = false;   ///< training only: mirror the clip with probability 1/2
};

/// The same resize, crop (random with `jitter`, else central) and flip (with `jitter` and
/// spatial.flip, p = 1/2) for every frame (H x W x C uint8). Throws UserError naming `what` when
/// the frames are smaller than the crop or differ in size.
std::vector<cv::Mat> transform_frames(const std::vector<cv::Mat>& frames, const Spatial& spatial, at::Generator* jitter,
                                      const std::string& what);

/// Equally sized H x W x C uint8 frames -> a float clip [C, T, H, W] in [0, 1].
at::Tensor to_tensor(const std::vector<cv::Mat>& frames);
/// The same frames as they are: a uint8 clip [T, H, W, C] (data.dtype: uint8_nthwc, the input of the
/// fused clip augmentations video_random_resized_crop_flip_jitter / video_center_crop).
at::Tensor to_uint8_tensor(const std::vector<cv::Mat>& frames);

}  // namespace smlab::datasets::clips
