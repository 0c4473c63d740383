// Formats beyond TorchScript for `smlab export --format pt2|onnx` (docs/deployment.md).
//
// A .pt2 (AOTInductor package) or an ONNX model cannot be produced from C++ alone: torch.export and
// AOTInductor live in torch's Python. As with a compiler, smlab calls the venv's Python at export
// time only, running tools/export_pt2.py on the TorchScript artifact it has just written and
// checked; `smlab score` then loads the .pt2 with AOTIModelPackageLoader, without Python.
//
//   const auto tools = smlab::inference::export_tools("");       // SMLAB_EXPORT_PYTHON or the build's
//   auto report = smlab::inference::export_derived("model.pt", DerivedFormat::Pt2, "model.pt2", "cpu", tools);
#pragma once
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace smlab::inference {

enum class DerivedFormat { Pt2, Onnx };
std::string derived_format_name(DerivedFormat f);

/// The Python (with torch 2.11) and the script that export .pt2 and ONNX.
struct ExportTools {
  std::filesystem::path python;  ///< --python, else $SMLAB_EXPORT_PYTHON, else the build's SMLAB_PYTHON
  std::filesystem::path script;  ///< $SMLAB_EXPORT_SCRIPT, else <source dir>/tools/export_pt2.py
};
ExportTools export_tools(const std::string& python_flag);

/// Runs the script: `artifact` (a checked TorchScript artifact) -> `output`, compiled for `device`
/// ("cpu" or "cuda"). Returns the script's JSON report. A model torch.export cannot take, a missing
/// Python, torch or onnx is a UserError with the script's one-line reason.
nlohmann::json export_derived(const std::filesystem::path& artifact, DerivedFormat format,
                              const std::filesystem::path& output, const std::string& device, const ExportTools& tools);

/// What this build can export and score, per format, with the reason when it cannot (smlab info).
struct FormatSupport {
  bool exports = false, scores = false;
  std::string note;
};
std::map<std::string, FormatSupport> format_support(const ExportTools& tools);

}  // namespace smlab::inference
