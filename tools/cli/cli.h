// The `smlab` command line: verbs, flags, help text and "did you mean" suggestions.
//
// Each verb is a VerbSpec (its usage, flags and examples) plus a function that runs it.
// Parsing is strict: an unknown flag or verb prints the usage with a suggestion and the
// process exits with status 2.
#pragma once
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace smlab::cli {

struct Flag {
  std::string name;          ///< long name without dashes, e.g. "device"
  std::string metavar;       ///< "" for a switch (takes no value)
  std::string help;
  std::string default_value; ///< shown in --help; also returned by Args::get when absent
};

struct Positional {
  std::string name;
  std::string help;
  bool required = true;
  bool variadic = false;  ///< takes all remaining positionals (e.g. key=value overrides)
};

struct VerbSpec {
  std::string name;
  std::string summary;  ///< one line, shown in `smlab --help`
  std::string description;
  std::vector<Positional> positionals;
  std::vector<Flag> flags;
  std::vector<std::string> examples;
  std::string owner_issue;  ///< non-empty while the verb is not built yet
};

class Args {
 public:
  bool has(const std::string& flag) const { return values_.count(flag) > 0; }
  /// The flag's value, or its default from the spec.
  std::string get(const std::string& flag) const;
  int get_int(const std::string& flag) const;
  /// get_int, refused with a UsageError naming the flag and the range outside [lo, hi].
  int get_int(const std::string& flag, int lo, int hi) const;
  double get_double(const std::string& flag) const;
  const std::vector<std::string>& positionals() const { return positionals_; }
  std::string positional(size_t i, const std::string& fallback = "") const {
    return i < positionals_.size() ? positionals_[i] : fallback;
  }

 private:
  friend Args parse(const VerbSpec&, const std::vector<std::string>&);
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> defaults_;
  std::vector<std::string> positionals_;
};

/// Parses `argv` (without the program and verb names) against `spec`.
/// Accepts `--flag value`, `--flag=value` and `--switch`. Throws UsageError.
Args parse(const VerbSpec& spec, const std::vector<std::string>& argv);

/// The full --help text of a verb.
std::string render_help(const VerbSpec& spec);

struct Verb {
  VerbSpec spec;
  std::function<int(const Args&)> run;
};

/// Every verb of the CLI, in the order shown by --help.
const std::vector<Verb>& verbs();

/// The arguments of the current invocation (verb first), for verbs that re-launch themselves.
const std::vector<std::string>& invocation();

/// Entry point used by tools/smlab_main.cpp and by in-process CLI tests.
int main(int argc, char** argv);
int run(const std::vector<std::string>& args);

/// The key=value config overrides among the positionals from index `first` on, plus
/// experiment.device from --device when given. Throws UsageError for a positional without '='.
std::vector<std::string> overrides_from(const Args& args, size_t first);

/// "<label> top1=0.9123 macro_f1=... loss=..." for the metrics `m` holds, one line on stdout.
void print_metrics_line(const std::string& label, const nlohmann::json& m);

// Verb specs and runners, one file each under tools/cli/.
Verb info_verb();
Verb explain_verb();
Verb train_verb();
Verb eval_verb();
Verb calibrate_verb();
Verb sweep_verb();
Verb export_verb();
Verb ensemble_verb();
Verb score_verb();
Verb pack_verb();
Verb tokenizer_verb();
Verb bench_verb();
Verb config_verb();
Verb import_weights_verb();
Verb forecast_eval_verb();
Verb cv_verb();
Verb segment_verb();
Verb report_verb();
Verb topics_verb();
Verb select_verb();
Verb active_learn_verb();

}  // namespace smlab::cli
