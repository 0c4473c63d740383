#include "trainers/sweep_search.h"

#include <cmath>
#include <cstdio>
#include <random>

#include "core/text.h"

namespace smlab::trainers {
namespace {

struct Dist {
  std::string key, kind;  ///< kind: log_uniform, uniform, int, choice
  double low = 0, high = 0;
  std::vector<std::string> choices;  ///< flow YAML of each value
};

std::string flow(const YAML::Node& n) {
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

Dist parse_dist(const std::string& key, const YAML::Node& spec, const WhereFn& where) {
  const std::string path = "random.space." + key;
  const std::vector<std::string> kinds = {"log_uniform", "uniform", "int", "choice"};
  auto fail = [&](const std::string& why) { throw config::ConfigError(where(path).str() + ": " + path + ": " + why); };
  if (!spec.IsMap() || spec.size() != 1) {
    fail("expected one distribution, e.g. {log_uniform: [1.0e-4, 0.1]}, {uniform: [0, 0.5]}, {int: [16, 128]} or "
         "{choice: [relu, gelu]}");
  }
  Dist d;
  d.key = key;
  d.kind = spec.begin()->first.as<std::string>();
  const YAML::Node args = spec.begin()->second;
  if (std::find(kinds.begin(), kinds.end(), d.kind) == kinds.end())
    fail("unknown distribution '" + d.kind + "'" + text::did_you_mean(d.kind, kinds) + " (known: " + text::join(kinds, ", ") + ")");
  if (d.kind == "choice") {
    if (!args.IsSequence() || args.size() == 0) fail("choice: expected a non-empty list of values");
    for (const auto& v : args) d.choices.push_back(flow(v));
    return d;
  }
  if (!args.IsSequence() || args.size() != 2) fail(d.kind + ": expected [low, high]");
  try {
    d.low = args[0].as<double>();
    d.high = args[1].as<double>();
  } catch (const YAML::Exception&) {
    fail(d.kind + ": low and high must be numbers");
  }
  if (!std::isfinite(d.low) || !std::isfinite(d.high)) fail(d.kind + ": low and high must be finite");
  if (d.kind == "int") {
    if (d.low != std::floor(d.low) || d.high != std::floor(d.high)) fail("int: low and high must be integers");
    if (d.low > d.high) fail("int: low " + number(d.low) + " is above high " + number(d.high));
    return d;
  }
  if (!(d.low < d.high)) fail(d.kind + ": low " + number(d.low) + " must be below high " + number(d.high));
  if (d.kind == "log_uniform" && !(d.low > 0)) fail("log_uniform: low must be > 0 (got " + number(d.low) + ")");
  return d;
}

/// A uniform double in [0, 1) from the top 53 bits of one draw.
double unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

std::string draw(const Dist& d, std::mt19937_64& rng) {
  if (d.kind == "choice") return d.choices[rng() % d.choices.size()];
  if (d.kind == "int") {
    const auto span = static_cast<uint64_t>(d.high - d.low) + 1;
    return std::to_string(static_cast<int64_t>(d.low) + static_cast<int64_t>(rng() % span));
  }
  const double u = unit(rng);
  if (d.kind == "uniform") return number(d.low + u * (d.high - d.low));
  return number(std::exp(std::log(d.low) + u * (std::log(d.high) - std::log(d.low))));
}

}  // namespace

void refuse_unknown_keys(const YAML::Node& n, const std::vector<std::string>& allowed, const std::string& section,
                         const std::string& what, const WhereFn& where) {
  const std::string prefix = section.empty() ? "" : section + ".";
  for (const auto& kv : n) {
    const auto key = kv.first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      throw config::ConfigError(where(prefix + key).str() + ": " + prefix + key + ": " + what +
                                text::did_you_mean(key, allowed) + " (allowed: " + text::join(allowed, ", ") + ")");
    }
  }
}

std::vector<SweepPoint> random_points(const YAML::Node& section, const WhereFn& where) {
  if (!section.IsMap()) throw config::ConfigError(where("random").str() + ": random: expected samples, seed and space");
  const std::vector<std::string> allowed = {"samples", "seed", "space"};
  refuse_unknown_keys(section, allowed, "random", "unknown key", where);
  int64_t samples = 0;
  uint64_t seed = 0;
  try {
    samples = section["samples"] ? section["samples"].as<int64_t>() : 0;
    seed = section["seed"] ? section["seed"].as<uint64_t>() : 0;
  } catch (const YAML::Exception&) {
    throw config::ConfigError(where("random").str() + ": random.samples and random.seed must be non-negative integers");
  }
  if (samples < 1 || samples > 100000)
    throw config::ConfigError(where("random.samples").str() + ": random.samples: expected 1 to 100000 points");
  const YAML::Node space = section["space"];
  if (!space || !space.IsMap() || space.size() == 0) {
    throw config::ConfigError(where("random").str() + ": random.space: expected key: {distribution: [args]} pairs");
  }
  std::vector<Dist> dists;
  for (const auto& kv : space) dists.push_back(parse_dist(kv.first.as<std::string>(), kv.second, where));
  std::mt19937_64 rng(seed);
  std::vector<SweepPoint> points(static_cast<size_t>(samples));
  for (auto& p : points)
    for (const auto& d : dists) p.overrides.emplace_back(d.key, draw(d, rng));
  return points;
}

void parse_halving(const YAML::Node& n, const WhereFn& where, SweepSpec* spec) {
  if (!n.IsMap()) throw config::ConfigError(where("halving").str() + ": halving: expected {eta, rungs, metric}");
  const std::vector<std::string> allowed = {"eta", "rungs", "metric"};
  refuse_unknown_keys(n, allowed, "halving", "unknown key", where);
  auto& H = spec->halving;
  H.on = true;
  try {
    if (n["eta"]) H.eta = n["eta"].as<int>();
    if (n["rungs"]) H.rungs = n["rungs"].as<std::vector<int64_t>>();
  } catch (const YAML::Exception&) {
    throw config::ConfigError(where("halving").str() + ": halving: eta is an integer and rungs a list of epochs, e.g. [1, 3, 9]");
  }
  if (H.eta < 2) throw config::ConfigError(where("halving.eta").str() + ": halving.eta: expected an integer >= 2");
  bool increasing = H.rungs.size() >= 2 && H.rungs[0] >= 1;
  for (size_t i = 1; i < H.rungs.size(); ++i) increasing = increasing && H.rungs[i] > H.rungs[i - 1];
  if (!increasing) {
    throw config::ConfigError(where("halving.rungs").str() +
                              ": halving.rungs: expected 2 or more increasing epoch counts from 1 on, e.g. [1, 3, 9]");
  }
  if (n["metric"]) {
    H.metric = n["metric"].as<std::string>();
    if (H.metric.rfind("val.", 0) != 0 || text::split(H.metric, '.').size() != 2) {
      throw config::ConfigError(where("halving.metric").str() + ": halving.metric: '" + H.metric +
                                "' should be a validation metric such as val.top1 or val.loss (rungs never look at test)");
    }
  }
  auto sets_epochs = [](const std::vector<std::pair<std::string, std::string>>& ov) {
    return std::any_of(ov.begin(), ov.end(), [](const auto& kv) { return kv.first == "train.epochs"; });
  };
  bool clash = sets_epochs(spec->common);
  for (const auto& p : spec->points) clash = clash || sets_epochs(p.overrides);
  if (clash) {
    throw config::ConfigError(where("halving.rungs").str() + ": halving.rungs: the last rung is every run's train.epochs; "
                              "remove train.epochs from set/grid/points");
  }
  spec->common.emplace_back("train.epochs", std::to_string(H.rungs.back()));
  spec->common.emplace_back("train.eval_every", "1");
}

}  // namespace smlab::trainers
