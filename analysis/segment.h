// Engagement segmentation (`smlab segment`): k-means over per-post engagement counts, k chosen
// by elbow and silhouette, clusters described in the data's units, and Welch's t-test of the
// top cluster's mean outcome (e.g. reactions) against all other posts.
//
// Steps: read the CSV; take the feature columns (log1p, then standardised, by default); run
// k-means (analysis/kmeans.h, on the GPU when present) for k_min..k_max with n_init restarts each,
// recording inertia and the exact mean silhouette; pick k (silhouette maximum by default, or the
// elbow of the inertia curve, or a fixed k); renumber clusters by descending mean outcome
// (cluster 0 = the top cluster); describe each cluster (size, mean and median of the described
// columns, status-type mix); test top vs rest with Welch's t-test (one- and two-sided p).
// Writes <out>/segments.csv (one row per post), summary.json and summary.md.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace smlab::analysis {

struct SegmentOptions {
  std::filesystem::path input;
  std::filesystem::path output_dir;
  std::vector<std::string> features{"num_reactions", "num_comments", "num_shares", "num_likes", "num_loves",
                                    "num_wows",      "num_hahas",    "num_sads",   "num_angrys"};
  std::vector<std::string> describe{"num_reactions", "num_comments", "num_shares"};
  std::string outcome = "num_reactions";  ///< ranks clusters; tested top vs rest
  std::string id_column = "status_id";    ///< copied to segments.csv when present
  std::string type_column = "status_type";  ///< status-type mix per cluster when present
  std::string transform = "log1p";        ///< log1p or none, before standardising
  bool standardize = true;
  int64_t k_min = 2, k_max = 10;
  int64_t k = 0;                          ///< > 0: use this k (the scan still runs for the report)
  std::string choose = "silhouette";      ///< silhouette or elbow
  int64_t n_init = 10;
  int64_t max_iter = 300;
  uint64_t seed = 0;
  std::string device = "auto";
  bool dedupe = false;                    ///< drop exact duplicate rows first (counted either way)
  int64_t limit = 0;                      ///< use only the first N rows (0 = all)
};

nlohmann::json segment(const SegmentOptions& options);

}  // namespace smlab::analysis
