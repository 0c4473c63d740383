// `smlab info`: versions, devices and everything registered.
#include <iostream>

#include "core/info.h"
#include "inference/export_formats.h"
#include "tools/register_all.h"
#include "core/text.h"
#include "tools/cli/cli.h"

namespace smlab::cli {

Verb info_verb() {
  VerbSpec s;
  s.name = "info";
  s.summary = "print versions, devices and the registered components";
  s.description =
      "Reports the smlab version and commit, the LibTorch, CUDA and cuDNN versions compiled in,\n"
      "the GPUs visible now, and every registered model, dataset, optimizer, scheduler, loss,\n"
      "metric and augmentation, and which deployment formats this build can export and score.";
  s.flags = {{"json", "", "print the same facts as one JSON object", ""}};
  s.examples = {"smlab info", "smlab info --json | python3 -m json.tool"};
  return {s, [](const Args& args) {
            const BuildInfo b = build_info();
            const auto catalog = registry_catalog();
            const auto formats = inference::format_support(inference::export_tools(""));
            if (args.has("json")) {
              nlohmann::json j = to_json(b);
              j["registries"] = catalog;
              for (const auto& [name, f] : formats)
                j["formats"][name] = {{"export", f.exports}, {"score", f.scores}, {"note", f.note}};
              std::cout << j.dump(2) << "\n";
              return 0;
            }
            std::cout << "smlab " << b.smlab_version << " (commit " << b.git_commit << ", " << b.build_type << ", "
                      << b.cxx_compiler << ")\n"
                      << "LibTorch   " << b.libtorch_version << "\n"
                      << "CUDA       " << (b.cuda_compiled ? b.cuda_version + " (compiled in)" : "not compiled in") << "\n"
                      << "cuDNN      " << (b.cudnn_version.empty() ? "-" : b.cudnn_version + " (compiled in)") << "\n"
                      << "kernels    smlab CUDA kernels "
                      << (b.kernels_compiled ? "compiled for " + b.kernel_archs : "not compiled (no nvcc at build time)")
                      << "\n"
                      << "threads    " << b.intraop_threads << " intra-op\n"
                      << "devices    cpu";
            if (b.gpu_count == 0) std::cout << "; no GPU present";
            for (size_t i = 0; i < b.gpu_names.size(); ++i) std::cout << "; cuda:" << i << " " << b.gpu_names[i];
            std::cout << "\n";
            for (const auto& [name, f] : formats)
              std::cout << "format     " << name << std::string(12 - name.size(), ' ') << "export " << (f.exports ? "yes" : "no ")
                        << "  score " << (f.scores ? "yes" : "no ") << "  (" << f.note << ")\n";
            for (const auto& [kind, names] : catalog) {
              std::cout << kind << std::string(kind.size() < 14 ? 14 - kind.size() : 1, ' ') << "(" << names.size()
                        << ") " << text::join(names, ", ") << "\n";
            }
            return 0;
          }};
}

}  // namespace smlab::cli
