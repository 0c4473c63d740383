// `smlab explain`: attribution maps for a run's or an artifact's predictions (analysis/explain_run.h).
#include <iostream>

#include "analysis/explain_run.h"
#include "core/error.h"
#include "core/text.h"
#include "tools/cli/cli.h"
#include "tools/register_all.h"

namespace smlab::cli {
namespace {

std::string method_list() {
  register_all();  // the verb table is built before main() registers anything
  std::string out;
  for (const auto& [name, m] : analysis::explain::method_registry().entries()) {
    std::vector<std::string> kinds;
    for (auto k : m.kinds) kinds.push_back(models::input_kind_name(k));
    out += "  " + name + ": " + m.help + " [" + text::join(kinds, ", ") + (m.needs_run ? "; run folder only" : "") + "]\n";
  }
  return out;
}

/// The ExplainOptions of the command line.
analysis::explain::ExplainOptions options_of(const Args& args) {
  analysis::explain::ExplainOptions o;
  o.model = args.positional(0);
  if (args.has("input")) o.input = args.get("input");
  o.split = args.get("split");
  o.output = args.get("output");
  o.method = args.get("method");
  o.target = args.get("target");
  o.input_format = args.get("input-format");
  o.id_field = args.get("id-field");
  o.text_field = args.get("text-field");
  o.checkpoint = args.get("checkpoint");
  o.device = args.get("device");
  o.limit = args.get_int("limit", 1, 1 << 20);
  o.params.layer = args.get("layer");
  o.params.steps = args.get_int("steps", 1, 4096);
  o.params.rule = analysis::explain::parse_rule(args.get("rule"));
  o.params.samples = args.get_int("samples", 1, 10000);
  o.params.noise = args.get_double("noise");
  o.params.seed = static_cast<uint64_t>(args.get_int("seed", 0, 1 << 30));
  o.batch_size = args.get_int("batch-size", 0, 1 << 20);
  o.overlays = !args.has("no-overlays");
  o.box_mass = args.has("box-mass");
  if (const auto k = args.get_int("faithfulness", 0, 1000); k > 0) {
    namespace fa = analysis::faithfulness;
    o.faithfulness = fa::FaithfulnessOptions{
        .steps = k, .random_maps = args.get_int("random-maps", 1, 1000), .seed = o.params.seed,
        .baseline = fa::parse_baseline(args.get("baseline")), .blur_sigma = args.get_double("blur-sigma")};
  }
  o.top_words = args.get_int("top-words", 0, 1 << 20);
  o.min_count = args.get_int("min-count", 1, 1 << 30);
  o.scores_format = args.get("scores");
  if (o.scores_format != "json" && o.scores_format != "h5")
    throw UsageError("--scores must be json or h5, got '" + o.scores_format + "'");
  return o;
}

}  // namespace

Verb explain_verb() {
  VerbSpec s;
  s.name = "explain";
  s.summary = "attribution maps (Grad-CAM, integrated gradients, SmoothGrad, ...) for a run's or an artifact's predictions";
  s.description =
      "Explains the predictions of a run folder (the C++ model: every method) or a TorchScript artifact (gradients\n"
      "through its forward: gradients, smoothgrad, integrated_gradients and input_x_gradient for images, clips and\n"
      "tabular rows) on the first --limit inputs of anything `smlab score` reads. Writes <output>/scores.json (all\n"
      "scores), overlay_<n>.png per image (a strip of frames per clip) and tokens.html for text (pieces summed\n"
      "back to words). Images and clips are attributed in pixel units (0..255, before normalisation); text at the\n"
      "token embeddings, with an all-padding baseline. The methods (docs/interpretability.md):\n" +
      method_list();
  s.positionals = {{"model", "run folder (the `latest` link works) or artifact from `smlab export`"}};
  s.flags = {{"input", "PATH", "images folder, .list, .tsv/.csv/.jsonl rows or packed HDF5 (as `smlab score`)", ""},
             {"output", "DIR", "output folder", ""},
             {"method", "NAME", "attribution method ('' = grad_cam for images and clips from a run, else integrated_gradients)", ""},
             {"target", "pred|K", "output explained: the predicted class, or index K", "pred"},
             {"layer", "NAME", "Grad-CAM layer ('' = the last convolutional stage); a wrong name lists the valid ones", ""},
             {"steps", "N", "integrated gradients: integration steps", "64"},
             {"rule", "R", "integrated gradients: gausslegendre, riemann_left/right/middle/trapezoid", "gausslegendre"},
             {"samples", "N", "smoothgrad: noisy copies", "25"},
             {"noise", "F", "smoothgrad: noise std as a fraction of each input's range", "0.15"},
             {"seed", "S", "smoothgrad: seed of the noise; --faithfulness: seed of the random maps", "0"},
             {"limit", "N", "explain the first N inputs", "16"},
             {"batch-size", "N", "rows per method call and per curve forward (0 = all at once; curves: 256)", "0"},
             {"faithfulness", "K", "deletion and insertion curves in K steps vs random maps -> faithfulness.json (0 = off)", "0"},
             {"random-maps", "R", "--faithfulness: random rankings averaged into the reference curve", "5"},
             {"baseline", "B", "--faithfulness on images and clips: zeros (black) or blur (texts: padding)", "zeros"},
             {"blur-sigma", "S", "--baseline blur: Gaussian std in pixels", "2"},
             {"top-words", "N", "text: the N most positive and negative words per class -> top_words.json/.csv", "0"},
             {"min-count", "N", "--top-words: occurrences a word needs in a class's rows", "5"},
             {"scores", "F", "json (each item's scores in scores.json) or h5 (the raw score tensor in scores.h5, "
              "for large batches)", "json"},
             {"no-overlays", "", "images and clips: skip overlay_<n>.png", ""},
             {"split", "S", "instead of --input: the run's own train, val or test split (float-tensor data: Moving-MNIST)", ""},
             {"box-mass", "", "clips: share of each frame's map inside the object's box -> box_mass.json", ""},
             {"input-format", "F", "auto, images, list, tsv, csv, jsonl or hdf5", "auto"},
             {"id-field", "F", "id column / key", "id"},
             {"text-field", "F", "text column / key", "text"},
             {"checkpoint", "C", "run folders: best or last", "best"},
             {"device", "DEV", "cpu, cuda, cuda:N or auto", "cpu"}};
  s.examples = {
      "smlab explain runs/fmnist_resnet20/latest --input imgs/ --output expl                  # Grad-CAM at layer3",
      "smlab explain runs/fmnist_resnet20/latest --input imgs/ --output expl --method grad_cam_pp --layer layer2",
      "smlab explain runs/sentiment_bilstm/latest --input tweets.tsv --output expl --steps 128  # tokens.html",
      "smlab explain runs/sentiment_bilstm/latest --input tweets.tsv --output att --method attention",
      "smlab explain model.pt --input rows.csv --output expl --method integrated_gradients --target 1",
      "smlab explain runs/mmnist_r3d/latest --input clips/ --output expl --target pred        # one map per frame",
      "smlab explain runs/fmnist_resnet20/latest --input data/fashion_mnist/test --output f --limit 1000 \\\n"
      "    --faithfulness 20 --random-maps 5 --no-overlays        # deletion/insertion vs random: faithfulness.json",
      "smlab explain runs/sentiment_bilstm/latest --input test.tsv --output w --limit 100000 --steps 32 \\\n"
      "    --batch-size 256 --top-words 25 --min-count 5         # top_words.csv: words per class",
      "smlab explain runs/mmnist_r3d/latest --split test --limit 1000 --output m --box-mass --batch-size 100 --no-overlays"};
  return {s, [](const Args& args) {
            if (!args.has("output")) throw UsageError("'smlab explain' needs --output");
            if (args.has("input") == args.has("split"))
              throw UsageError("'smlab explain' needs --input, or --split for the run's own data (not both)");
            const auto o = options_of(args);
            const auto r = analysis::explain::explain(o);
            std::cout << "explained " << r.json["items"].size() << " inputs of " << o.model.string() << " with "
                      << r.json["method"].get<std::string>()
                      << (r.json["layer"].get<std::string>().empty() ? "" : " at " + r.json["layer"].get<std::string>())
                      << "; rejected " << r.json["rejects"].size() << "\n";
            if (!r.faithfulness.empty()) std::cout << r.faithfulness << "\n";
            if (!r.box_mass.empty()) std::cout << r.box_mass << "\n";
            for (const auto& f : r.files) std::cout << "  " << f.string() << "\n";
            return 0;
          }};
}

}  // namespace smlab::cli
