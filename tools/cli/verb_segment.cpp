// `smlab segment`: k-means engagement segments of a CSV of posts (analysis/segment.h).
#include <iostream>

#include "core/error.h"
#include "core/text.h"
#include "tools/cli/cli.h"
#include "analysis/segment.h"

namespace smlab::cli {

Verb segment_verb() {
  VerbSpec s;
  s.name = "segment";
  s.summary = "k-means segments of posts by engagement (k by elbow and silhouette), cluster profiles, Welch's t-test";
  s.description =
      "Clusters the rows of a CSV by the feature columns (log1p, then standardised) with k-means written in\n"
      "LibTorch tensor ops (on the GPU when present), for k = --k-min..--k-max with --n-init k-means++ restarts\n"
      "each, and picks k by the silhouette maximum (or the elbow of the inertia curve, --choose elbow, or a\n"
      "fixed --k). Clusters are numbered by descending mean --outcome (cluster 0 is the top cluster) and\n"
      "described by their mean --describe columns and status-type mix; Welch's t-test compares the top\n"
      "cluster's mean outcome with all other rows. Writes <output>/segments.csv (line, id, type, cluster,\n"
      "described columns), summary.json and summary.md.";
  s.positionals = {{"input", "CSV file with a header row (e.g. Facebook Live sellers' Live.csv)"}};
  s.flags = {{"output", "DIR", "output folder", "segments"},
             {"features", "A,B,..", "columns to cluster on",
              "num_reactions,num_comments,num_shares,num_likes,num_loves,num_wows,num_hahas,num_sads,num_angrys"},
             {"describe", "A,B,..", "columns averaged per cluster", "num_reactions,num_comments,num_shares"},
             {"outcome", "COL", "column that ranks clusters and is t-tested (top cluster vs rest)", "num_reactions"},
             {"id-column", "COL", "id column copied to segments.csv (if present)", "status_id"},
             {"type-column", "COL", "category column whose mix describes clusters (if present)", "status_type"},
             {"transform", "T", "log1p or none, before standardising", "log1p"},
             {"no-standardize", "", "cluster on the transformed values without standardising", ""},
             {"k-min", "K", "smallest k scanned", "2"},
             {"k-max", "K", "largest k scanned", "10"},
             {"k", "K", "use this k instead of choosing one (0 = choose)", "0"},
             {"choose", "RULE", "silhouette or elbow", "silhouette"},
             {"n-init", "N", "k-means++ restarts per k", "10"},
             {"seed", "S", "seed of the k-means++ draws", "0"},
             {"dedupe", "", "drop exact duplicate rows first (they are counted either way)", ""},
             {"limit", "N", "use only the first N rows (0 = all)", "0"},
             {"device", "DEV", "auto, cpu, cuda or cuda:N", "auto"}};
  s.examples = {"smlab segment ../shared/datasets/fb_live_sellers_thailand/Live.csv --output runs/fb_live_segments",
                "smlab segment posts.csv --features likes,comments,shares --describe likes,comments --outcome likes --k 4"};
  return {s, [](const Args& args) {
            analysis::SegmentOptions o;
            o.input = args.positional(0);
            o.output_dir = args.get("output");
            auto list = [&](const std::string& flag) {
              std::vector<std::string> out;
              for (const auto& p : text::split(args.get(flag), ','))
                if (!text::trim(p).empty()) out.push_back(text::trim(p));
              return out;
            };
            o.features = list("features");
            o.describe = list("describe");
            o.outcome = args.get("outcome");
            o.id_column = args.get("id-column");
            o.type_column = args.get("type-column");
            o.transform = args.get("transform");
            o.standardize = !args.has("no-standardize");
            o.k_min = args.get_int("k-min");
            o.k_max = args.get_int("k-max");
            o.k = args.get_int("k");
            o.choose = args.get("choose");
            o.n_init = args.get_int("n-init");
            o.seed = static_cast<uint64_t>(args.get_int("seed"));
            o.dedupe = args.has("dedupe");
            o.limit = args.get_int("limit");
            o.device = args.get("device");
            const auto r = analysis::segment(o);
            std::cout << r["markdown"].get<std::string>() << "\nwritten: " << (o.output_dir / "segments.csv").string()
                      << ", summary.json, summary.md\n";
            return 0;
          }};
}

}  // namespace smlab::cli
