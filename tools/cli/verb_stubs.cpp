// Verbs whose owning issue has not landed yet: they have real --help text and say
// "not built yet" (exit 2) until then.
#include "tools/cli/cli.h"

namespace smlab::cli {

Verb export_verb() {
  VerbSpec s;
  s.name = "export";
  s.summary = "write a TorchScript artifact (model + preprocessing + metadata) from a run";
  s.positionals = {{"run", "run folder"}};
  s.flags = {{"output", "FILE", "artifact path", "<run>/model.pt"}};
  s.examples = {"smlab export runs/quickstart/latest --output quickstart.pt"};
  s.owner_issue = "issue 6, export";
  return {s, [](const Args&) { return 2; }};
}

Verb score_verb() {
  VerbSpec s;
  s.name = "score";
  s.summary = "batch-score inputs with a TorchScript artifact, resumably";
  s.flags = {{"model", "FILE", "artifact written by 'smlab export'", ""},
             {"input", "PATH", "TSV/CSV/JSONL, image folder or HDF5 shards", ""},
             {"output", "PATH", "CSV, JSONL or HDF5 output", ""}};
  s.examples = {"smlab score --model quickstart.pt --input sample.csv --output scores.csv"};
  s.owner_issue = "issue 10, scoring";
  return {s, [](const Args&) { return 2; }};
}

}  // namespace smlab::cli
