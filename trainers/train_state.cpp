// TrainState <-> JSON (train_state.h).
#include "trainers/train_state.h"

#include <type_traits>

#include "core/error.h"

namespace smlab::trainers {

nlohmann::json TrainState::to_json() const {
  return {{"epoch", epoch},           {"batch", batch},       {"step", step},           {"samples", samples},
          {"best", best},             {"has_best", has_best}, {"best_epoch", best_epoch}, {"best_step", best_step},
          {"last_eval_step", last_eval_step}, {"bad_evals", bad_evals},
          {"loss_sum", loss_sum},     {"loss_count", loss_count}, {"elapsed", elapsed},
          {"wall", wall},             {"last_val", last_val}};
}

TrainState TrainState::from_json(const nlohmann::json& j, const std::string& where) {
  // Every field is checked for presence and type: a damaged state record is a UserError naming
  // `where`, never nlohmann's type_error (found by tests/fuzz/fuzz_metadata.cpp).
  if (!j.is_object()) throw UserError(where + ": its training state is not a JSON object (damaged checkpoint?)");
  auto get = [&](const char* key, auto& out) {
    using T = std::decay_t<decltype(out)>;
    const auto it = j.find(key);
    const bool ok = it != j.end() && (std::is_same_v<T, bool> ? it->is_boolean()
                                      : std::is_floating_point_v<T> ? it->is_number()
                                                                    : it->is_number_integer());
    if (!ok)
      throw UserError(where + ": its training state has no " + (std::is_same_v<T, bool> ? "boolean" : "numeric") +
                      " field '" + key + "' (damaged checkpoint?)");
    out = it->template get<T>();
  };
  TrainState s;
  get("epoch", s.epoch);
  get("batch", s.batch);
  get("step", s.step);
  get("samples", s.samples);
  get("best", s.best);
  get("has_best", s.has_best);
  get("best_epoch", s.best_epoch);
  if (j.contains("best_step")) get("best_step", s.best_step);  // absent in checkpoints written before step-based evaluation
  if (j.contains("last_eval_step")) get("last_eval_step", s.last_eval_step);
  get("bad_evals", s.bad_evals);
  get("loss_sum", s.loss_sum);
  get("loss_count", s.loss_count);
  get("elapsed", s.elapsed);
  if (j.contains("wall")) get("wall", s.wall);  // absent in checkpoints written before summaries survived a resume
  if (j.contains("last_val")) s.last_val = j.at("last_val");
  return s;
}

}  // namespace smlab::trainers
