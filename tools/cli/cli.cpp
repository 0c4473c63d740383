#include "tools/cli/cli.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "core/error.h"
#include "tools/register_all.h"
#include "core/text.h"
#include "smlab/build_info.h"

namespace smlab::cli {

std::string Args::get(const std::string& flag) const {
  if (auto it = values_.find(flag); it != values_.end()) return it->second;
  if (auto it = defaults_.find(flag); it != defaults_.end()) return it->second;
  return "";
}

int Args::get_int(const std::string& flag) const {
  const std::string v = get(flag);
  try {
    size_t pos = 0;
    const int out = std::stoi(v, &pos);
    if (pos != v.size()) throw std::invalid_argument(v);
    return out;
  } catch (const std::exception&) {
    throw UsageError("--" + flag + " expects an integer, got '" + v + "'");
  }
}

int Args::get_int(const std::string& flag, int lo, int hi) const {
  const int v = get_int(flag);
  if (v < lo || v > hi)
    throw UsageError("--" + flag + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                     std::to_string(v));
  return v;
}

double Args::get_double(const std::string& flag) const {
  const std::string v = get(flag);
  try {
    size_t pos = 0;
    const double out = std::stod(v, &pos);
    if (pos != v.size()) throw std::invalid_argument(v);
    return out;
  } catch (const std::exception&) {
    throw UsageError("--" + flag + " expects a number, got '" + v + "'");
  }
}

Args parse(const VerbSpec& spec, const std::vector<std::string>& argv) {
  Args args;
  std::vector<std::string> names;
  for (const auto& f : spec.flags) {
    names.push_back("--" + f.name);
    if (!f.default_value.empty()) args.defaults_[f.name] = f.default_value;
  }
  auto find_flag = [&](const std::string& name) -> const Flag* {
    for (const auto& f : spec.flags)
      if (f.name == name) return &f;
    return nullptr;
  };
  bool only_positionals = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (!only_positionals && a == "--") {
      only_positionals = true;
      continue;
    }
    if (!only_positionals && a.size() > 1 && a[0] == '-') {
      std::string body = a.substr(a[1] == '-' ? 2 : 1);
      std::optional<std::string> inline_value;
      if (auto eq = body.find('='); eq != std::string::npos) {
        inline_value = body.substr(eq + 1);
        body = body.substr(0, eq);
      }
      const Flag* f = find_flag(body);
      if (!f) {
        throw UsageError("unknown flag '" + a + "' for 'smlab " + spec.name + "'" +
                         text::did_you_mean("--" + body, names));
      }
      if (f->metavar.empty()) {
        if (inline_value) throw UsageError("--" + f->name + " takes no value");
        args.values_[f->name] = std::string(1, '1');
      } else if (inline_value) {
        args.values_[f->name] = *inline_value;
      } else {
        if (i + 1 >= argv.size()) throw UsageError("--" + f->name + " needs a value (" + f->metavar + ")");
        args.values_[f->name] = argv[++i];
      }
      continue;
    }
    args.positionals_.push_back(a);
  }
  size_t required = 0;
  bool variadic = false;
  for (const auto& p : spec.positionals) {
    required += p.required ? 1 : 0;
    variadic = variadic || p.variadic;
  }
  if (args.positionals_.size() < required) {
    throw UsageError("'smlab " + spec.name + "' needs " + spec.positionals[args.positionals_.size()].name);
  }
  if (!variadic && args.positionals_.size() > spec.positionals.size()) {
    throw UsageError("unexpected argument '" + args.positionals_[spec.positionals.size()] + "' for 'smlab " +
                     spec.name + "'");
  }
  return args;
}

std::string render_help(const VerbSpec& spec) {
  std::ostringstream o;
  o << "usage: smlab " << spec.name;
  if (!spec.flags.empty()) o << " [options]";
  for (const auto& p : spec.positionals) {
    o << " " << (p.required ? "" : "[") << p.name << (p.variadic ? "..." : "") << (p.required ? "" : "]");
  }
  o << "\n\n" << spec.summary << "\n";
  if (!spec.description.empty()) o << "\n" << spec.description << "\n";
  if (!spec.owner_issue.empty()) o << "\nStatus: not built yet (" << spec.owner_issue << ").\n";
  if (!spec.positionals.empty()) {
    o << "\narguments:\n";
    for (const auto& p : spec.positionals) {
      std::string left = "  " + p.name + (p.variadic ? "..." : "");
      o << left << std::string(left.size() < 26 ? 26 - left.size() : 1, ' ') << p.help << "\n";
    }
  }
  o << "\noptions:\n";
  std::vector<Flag> flags = spec.flags;
  flags.push_back({"help", "", "show this help and exit", ""});
  for (const auto& f : flags) {
    std::string left = "  --" + f.name + (f.metavar.empty() ? "" : " " + f.metavar);
    o << left << std::string(left.size() < 26 ? 26 - left.size() : 1, ' ') << f.help;
    if (!f.default_value.empty()) o << " (default: " << f.default_value << ")";
    o << "\n";
  }
  if (!spec.examples.empty()) {
    o << "\nexamples:\n";
    for (const auto& e : spec.examples) o << "  " << e << "\n";
  }
  return o.str();
}

const std::vector<Verb>& verbs() {
  static const std::vector<Verb> all = {train_verb(),  eval_verb(),      calibrate_verb(), sweep_verb(),  export_verb(), ensemble_verb(),
                                        score_verb(),  explain_verb(), pack_verb(),      tokenizer_verb(), bench_verb(),
                                        config_verb(), import_weights_verb(), cv_verb(), forecast_eval_verb(),
                                        segment_verb(), report_verb(), topics_verb(), select_verb(), active_learn_verb(), info_verb()};
  return all;
}

namespace {

std::string top_usage() {
  std::ostringstream o;
  o << "usage: smlab <verb> [options] [arguments]\n\n"
    << "smlab " << SMLAB_VERSION << ": deep-learning training and inference on LibTorch for social-media analytics.\n\n"
    << "verbs:\n";
  size_t width = 0;
  for (const auto& v : verbs()) width = std::max(width, v.spec.name.size() + 2);
  for (const auto& v : verbs()) {
    o << "  " << v.spec.name << std::string(std::max<size_t>(10, width) - v.spec.name.size(), ' ') << v.spec.summary
      << (v.spec.owner_issue.empty() ? "" : " [not built yet]") << "\n";
  }
  o << "\nRun 'smlab <verb> --help' for a verb's options and examples.\n";
  return o.str();
}

}  // namespace

namespace {
std::vector<std::string> g_invocation;

/// "cannot create directories /x/y: Permission denied" from std::filesystem's
/// "filesystem error: cannot create directories: Permission denied [/x/y]".
std::string filesystem_message(const std::filesystem::filesystem_error& e) {
  std::string op = e.what();
  const std::string prefix = "filesystem error: ";
  if (op.rfind(prefix, 0) == 0) op = op.substr(prefix.size());
  if (const auto bracket = op.find(" ["); bracket != std::string::npos) op = op.substr(0, bracket);
  const std::string reason = e.code().message();
  if (op.size() > reason.size() + 2 && op.compare(op.size() - reason.size() - 2, std::string::npos, ": " + reason) == 0)
    op = op.substr(0, op.size() - reason.size() - 2);
  std::string where = e.path1().string();
  if (!e.path2().empty()) where += " -> " + e.path2().string();
  return op + " " + where + ": " + reason + " (check the folder's permissions and free space)";
}
}  // namespace

const std::vector<std::string>& invocation() { return g_invocation; }

int run(const std::vector<std::string>& args) {
  g_invocation = args;
  if (args.empty()) {
    std::cerr << top_usage();
    return 2;
  }
  const std::string& name = args[0];
  if (name == "--help" || name == "-h" || name == "help") {
    std::cout << top_usage();
    return 0;
  }
  if (name == "--version") {
    std::cout << "smlab " << SMLAB_VERSION << " (" << SMLAB_GIT_COMMIT << ")\n";
    return 0;
  }
  std::vector<std::string> names;
  for (const auto& v : verbs()) names.push_back(v.spec.name);
  const Verb* verb = nullptr;
  for (const auto& v : verbs())
    if (v.spec.name == name) verb = &v;
  if (!verb) {
    std::cerr << "smlab: unknown verb '" << name << "'" << text::did_you_mean(name, names) << "\n\n" << top_usage();
    return 2;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const auto& a : rest) {
    if (a == "--") break;
    if (a == "--help" || a == "-h") {
      std::cout << render_help(verb->spec);
      return 0;
    }
  }
  if (!verb->spec.owner_issue.empty()) {
    std::cerr << "smlab " << name << ": not built yet (" << verb->spec.owner_issue << ")\n";
    return 2;
  }
  try {
    register_all();
    const Args parsed = parse(verb->spec, rest);
    return verb->run(parsed);
  } catch (const Interrupted& e) {
    std::cerr << "smlab " << name << ": " << e.what() << "\n";
    return e.exit_status();
  } catch (const UsageError& e) {
    std::cerr << "smlab " << name << ": " << e.what() << "\n\n" << render_help(verb->spec);
    return 2;
  } catch (const UserError& e) {
    std::cerr << "smlab " << name << ": error: " << e.what() << "\n";
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {
    // A folder that cannot be created or read (permissions, a full disk): one line naming the path.
    std::cerr << "smlab " << name << ": error: " << filesystem_message(e) << "\n";
    return 2;
  } catch (const c10::Error& e) {
    std::cerr << "smlab " << name << ": error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "smlab " << name << ": error: " << e.what() << "\n";
    return 1;
  }
}

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return run(args);
}

void print_metrics_line(const std::string& label, const nlohmann::json& m) {
  std::cout << label;
  for (const char* k : {"top1", "macro_f1", "macro_recall", "ece", "nll", "mae", "rmse", "r2", "loss"})
    if (m.contains(k) && m[k].is_number()) std::printf(" %s=%.4f", k, m[k].get<double>());
  std::fflush(stdout);
  std::cout << "\n";
}

/// key=value positionals from index `first` on, plus --device when the verb has it.
std::vector<std::string> overrides_from(const Args& args, size_t first) {
  std::vector<std::string> out;
  for (size_t i = first; i < args.positionals().size(); ++i) {
    const auto& p = args.positionals()[i];
    if (p.find('=') == std::string::npos) {
      throw UsageError("'" + p + "' is not a key=value override (e.g. train.epochs=3)");
    }
    out.push_back(p);
  }
  if (args.has("device")) out.push_back("experiment.device=" + args.get("device"));
  return out;
}

}  // namespace smlab::cli
