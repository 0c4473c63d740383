// `smlab import-weights`: builds a registered model and fills it from a TorchScript file
// (e.g. a torchvision model saved from Python), then writes an smlab checkpoint.
#include <iostream>
#include <sstream>

#include "core/config.h"
#include "core/error.h"
#include "tools/register_all.h"
#include "models/import.h"
#include "models/model.h"
#include "tools/cli/cli.h"
#include "trainers/checkpoint.h"

namespace smlab::cli {
namespace {

std::vector<int64_t> parse_shape(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      size_t pos = 0;
      const long long v = std::stoll(part, &pos);
      if (pos != part.size() || v <= 0) throw std::invalid_argument(part);
      out.push_back(v);
    } catch (const std::exception&) {
      throw UsageError("--input-shape expects positive integers separated by commas (e.g. 3,224,224), got '" + text +
                       "'");
    }
  }
  if (out.empty()) throw UsageError("--input-shape is empty");
  return out;
}

}  // namespace

Verb import_weights_verb() {
  VerbSpec s;
  s.name = "import-weights";
  s.summary = "copy weights from a TorchScript file (e.g. torchvision) into an smlab checkpoint";
  s.description =
      "Builds the model named by --model (with the given model options), copies every parameter and\n"
      "buffer of the TorchScript module by name (smlab's image models use torchvision's names), and\n"
      "writes an smlab checkpoint (trainers::load_checkpoint format; training position zero). Missing\n"
      "or unexpected tensors are an error unless --non-strict; shape mismatches always are.";
  s.positionals = {{"torchscript", "TorchScript file, e.g. torch.jit.script(torchvision.models.resnet50()).save(...)"},
                   {"checkpoint", "checkpoint file to write"},
                   {"overrides", "model options as key=value (or model.key=value)", false, true}};
  s.flags = {{"model", "NAME", "registered model name", ""},
             {"classes", "N", "number of output classes", "1000"},
             {"input-shape", "C,H,W", "input shape of one sample", "3,224,224"},
             {"non-strict", "", "skip tensors missing on either side", ""}};
  s.examples = {"smlab import-weights resnet50_tv.pt resnet50.ckpt --model resnet50",
                "smlab import-weights r20.pt r20.ckpt --model resnet20 --classes 10 --input-shape 3,32,32 shortcut=B"};
  return {s, [](const Args& args) {
            const std::string model = args.get("model");
            if (model.empty()) throw UsageError("--model is required (see `smlab info` for the registered models)");
            const int classes = args.get_int("classes");
            if (classes <= 0) throw UsageError("--classes must be positive, got " + std::to_string(classes));
            std::vector<std::string> overrides{"model.name=" + model};
            for (size_t i = 2; i < args.positionals().size(); ++i) {
              const auto& o = args.positionals()[i];
              overrides.push_back(o.rfind("model.", 0) == 0 ? o : "model." + o);
            }
            const auto cfg = config::load_string("version: 1\n", "import-weights", overrides);
            datasets::DatasetInfo info;
            info.task = datasets::Task::Classification;
            info.num_classes = classes;
            info.input_shape = parse_shape(args.get("input-shape"));
            auto net = models::build(cfg, info);
            models::import_weights(*net, args.positional(0), !args.has("non-strict"));
            trainers::save_checkpoint(args.positional(1), *net, nullptr, trainers::TrainState{});
            std::cout << "imported " << args.positional(0) << " into " << model << " ("
                      << models::parameter_count(*net) << " parameters) -> " << args.positional(1) << "\n";
            return 0;
          }};
}

}  // namespace smlab::cli
