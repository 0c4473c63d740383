// What `smlab explain` writes: heatmap overlays as PNG (a strip of frames for clips), token
// highlighting as one self-contained HTML file, and SentencePiece pieces summed back to words.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace smlab::analysis::explain {

/// Whether this build can encode PNG files (OpenCV codecs present).
bool can_write_png();

/// Writes `map` ([H, W], or [T, H, W] for a clip: the frames side by side) over `pixels` (uint8
/// [H, W, C] or [T, H, W, C], RGB or grey) as a JET heatmap blended at 50%, scaled so that the
/// shorter side is at least 128 pixels. The map is shown by |value| / max |value|.
void write_overlay_png(const std::filesystem::path& path, const torch::Tensor& pixels, const torch::Tensor& map);

/// (word, score) of `pieces` and their scores: a piece that starts with U+2581 (SentencePiece's
/// word boundary) starts a new word, and a word's score is the sum of its pieces' scores.
std::vector<std::pair<std::string, double>> words_from_pieces(const std::vector<std::string>& pieces,
                                                              const std::vector<double>& scores);

struct HighlightRow {
  std::string id, label;
  std::vector<std::pair<std::string, double>> words;
};

/// The rows of highlight_html as an HTML fragment (one <div> per row, each word's score in data-value),
/// for pages that embed them (the run report).
std::string highlight_rows(const std::vector<HighlightRow>& rows);

/// One HTML page, no external resources: each row's words on a red (positive) / blue (negative)
/// background whose strength is |score| / max |score| of the row, the score in a tooltip.
std::string highlight_html(const std::string& title, const std::vector<HighlightRow>& rows);

}  // namespace smlab::analysis::explain
