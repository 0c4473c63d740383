// `smlab report PATH`: a self-contained HTML report of a run, a sweep, a segment or a forecast-eval
// output (analysis/report.h).
#include <iostream>

#include "analysis/report.h"
#include "tools/cli/cli.h"

namespace smlab::cli {

Verb report_verb() {
  VerbSpec s;
  s.name = "report";
  s.summary = "one self-contained HTML report (inline SVG charts) of a run, sweep, segment or forecast-eval output";
  s.description =
      "Writes <path>/report.html (or --output): one file with inline SVG charts and inline CSS that needs\n"
      "no server and no network. PATH is detected as\n"
      "  a run folder:   overview, loss / metric / learning-rate curves and throughput from metrics.jsonl;\n"
      "                  from eval_<split>_<ckpt>.json (`smlab eval RUN`) the per-class table, the confusion\n"
      "                  heatmap, the reliability diagram (before and after temperature scaling when\n"
      "                  `smlab calibrate RUN` wrote calibration.json) and the most confidently wrong\n"
      "                  examples with their inputs (text, image thumbnails, clip frames); the resolved config\n"
      "                  and meta.json; and the forecast sections when forecast_eval.json is there;\n"
      "  a sweep folder: the stats metric per grid point (mean and 95% CI over seeds, from results.csv), every\n"
      "                  run's status, and the validation curves of every run overlaid;\n"
      "  a segment output (`smlab segment`): the elbow and silhouette curves and the cluster profiles;\n"
      "  a forecast-eval output: errors per series and horizon, and each series' forecast against the\n"
      "                  actual values with the labelled anomaly windows and smlab's flags.\n"
      "The report never runs a model: without eval_*.json it says to run `smlab eval RUN`. Missing or\n"
      "unreadable parts (a run still training, a sweep with failed points) are listed at the top of the page.\n"
      "Every bar and point carries its number in a data-value attribute.";
  s.positionals = {{"path", "run folder, sweep folder, segment output folder or forecast-eval run folder"}};
  s.flags = {{"output", "FILE", "where to write the page (default <path>/report.html)", ""},
             {"kind", "KIND", "auto, run, sweep, segment or forecast (forecast: only the forecast-eval sections)", "auto"},
             {"no-examples", "", "do not rebuild the evaluated split to show the wrong examples' inputs", ""},
             {"max-examples", "N", "most confidently wrong examples shown", "12"},
             {"max-series", "N", "forecast: series drawn", "12"}};
  s.examples = {"smlab report runs/quickstart/latest",
                "smlab eval runs/sentiment/latest && smlab calibrate runs/sentiment/latest && smlab report runs/sentiment/latest",
                "smlab report runs/sweeps/quickstart_grid --output /tmp/grid.html",
                "smlab report runs/fb_live_segments", "smlab report runs/nab_lstm/r1 --kind forecast --max-series 4"};
  return {s, [](const Args& args) {
            analysis::HtmlReportOptions o;
            o.input = args.positional(0);
            o.output = args.get("output");
            o.kind = analysis::parse_report_kind(args.get("kind"));
            o.examples = !args.has("no-examples");
            o.max_examples = args.get_int("max-examples", 0, 1000);
            o.max_series = args.get_int("max-series", 0, 1000);
            const auto r = analysis::write_html_report(o);
            std::cout << analysis::report_kind_name(r.kind) << " report: " << r.sections.size() << " sections";
            if (!r.missing.empty()) std::cout << ", " << r.missing.size() << " thing(s) missing (listed at the top)";
            std::cout << "\nwritten: " << r.output.string() << "\n";
            return 0;
          }};
}

}  // namespace smlab::cli
