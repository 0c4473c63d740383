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

std::vector<SweepPoint> random_points(const YAML::Node& section, const WhereFn& where) {
  if (!section.IsMap()) throw config::ConfigError(where("random").str() + ": random: expected samples, seed and space");
  const std::vector<std::string> allowed = {"samples", "seed", "space"};
  for (const auto& kv : section) {
    const auto key = kv.first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      throw config::ConfigError(where("random." + key).str() + ": random." + key + ": unknown key" +
                                text::did_you_mean(key, allowed) + " (allowed: " + text::join(allowed, ", ") + ")");
    }
  }
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

}  // namespace smlab::trainers
