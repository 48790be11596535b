// `depends_on` (Loader::read_depends_on and check_dependencies, loader.h).
// Each table's entries are read with their positions; once every file is
// read, the names are checked across programs (an unknown name, a program
// naming itself), the graph is searched for cycles (each reported once, as
// `a -> b -> a`, at the entry of its first program by name that closes
// it), and the programs named by a `completed` condition are marked as
// jobs (ProgramConfig::job).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

#include "supervisor/config/loader.h"
#include "supervisor/config/value_parsers.h"
#include "supervisor/config/value_text.h"

namespace minisup::config::detail {
namespace {

constexpr std::array<std::pair<std::string_view, DependencyCondition>, 3> kConditions{{
    {"started", DependencyCondition::Started},
    {"ready", DependencyCondition::Ready},
    {"completed", DependencyCondition::Completed},
}};

}  // namespace

void Loader::read_depends_on(const Field& f, ProgramDraft& draft) {
  ProgramConfig& p = draft.program;
  const SourceFile& file = *draft.file;
  std::vector<std::pair<Dependency, Pos>> entries;
  auto add = [&](const std::string& name, DependencyCondition condition, const Pos& where,
                 const std::string& shown_key) {
    if (name.empty()) {
      error(where, fmt::format("{} must name a program, got \"\"", shown_key));
      return;
    }
    for (const auto& [dependency, seen_where] : entries) {
      if (dependency.program == name) {
        error(where, fmt::format("depends_on names {} twice", quote(name)));
        return;
      }
    }
    entries.emplace_back(Dependency{name, condition}, where);
  };

  if (const auto* array = f.node.as_array()) {
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      const Field e{fmt::format("depends_on[{}]", i), element, location(file, element.source())};
      if (auto name = as_string(e, /*allow_empty=*/true)) {
        add(*name, DependencyCondition::Ready, e.where, e.key);
      }
    }
  } else if (const auto* table = f.node.as_table()) {
    for (auto&& [key, value] : *table) {
      const std::string name(key.str());
      const std::string shown_key = "depends_on." + truncate(name);
      std::optional<DependencyCondition> condition;
      if (const auto* string = value.as_string()) {
        for (const auto& [text, c] : kConditions) {
          if (iequals(string->get(), text)) condition = c;
        }
      }
      if (!condition) {
        error(location(file, value.source()),
              fmt::format("{} must be \"started\", \"ready\" or \"completed\", got {}", shown_key,
                          describe(value)));
        continue;
      }
      add(name, *condition, location(file, key.source()), shown_key);
    }
  } else {
    error(f.where, fmt::format("depends_on must be an array of program names like [\"db\"] or a "
                               "table like {{ db = \"ready\" }}, got {}",
                               describe(f.node)));
    return;
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first.program < b.first.program; });
  p.depends_on.clear();
  draft.depends_on_where.clear();
  for (auto& [dependency, where] : entries) {
    p.depends_on.push_back(std::move(dependency));
    draft.depends_on_where.push_back(where);
  }
}

void Loader::check_dependencies() {
  // Names first: an entry that names no program (or its own) is reported
  // and left out of the graph.
  std::vector<std::string_view> names;
  for (const auto& [name, index] : program_index_) names.push_back(name);
  const std::size_t n = drafts_.size();
  // edges[i]: (dependency's index, entry position) of drafts_[i].
  std::vector<std::vector<std::pair<std::size_t, Pos>>> edges(n);
  for (std::size_t i = 0; i < n; ++i) {
    const ProgramConfig& p = drafts_[i].program;
    for (std::size_t d = 0; d < p.depends_on.size(); ++d) {
      const Dependency& dependency = p.depends_on[d];
      const Pos& where = drafts_[i].depends_on_where[d];
      if (dependency.program == p.name) {
        error(where, fmt::format("depends_on: {} cannot depend on itself", quote(p.name)));
        continue;
      }
      const auto it = program_index_.find(dependency.program);
      if (it == program_index_.end()) {
        std::string message =
            fmt::format("depends_on names {}, which is not a program", quote(dependency.program));
        if (auto suggestion = closest_match(dependency.program, names)) {
          message += fmt::format("; did you mean {}?", quote(*suggestion));
        }
        error(where, std::move(message));
        continue;
      }
      if (dependency.condition == DependencyCondition::Completed) {
        drafts_[it->second].program.job = true;
      }
      edges[i].emplace_back(it->second, where);
    }
  }

  // Cycles: an iterative depth-first search (a long chain must not
  // exhaust the stack), from each program in name order.
  enum class Mark { New, OnPath, Done };
  std::vector<Mark> marks(n, Mark::New);
  for (const auto& [name, root] : program_index_) {
    if (marks[root] != Mark::New) continue;
    std::vector<std::pair<std::size_t, std::size_t>> path;  // (program, next edge)
    path.emplace_back(root, 0);
    marks[root] = Mark::OnPath;
    while (!path.empty()) {
      auto& [node, next] = path.back();
      if (next == edges[node].size()) {
        marks[node] = Mark::Done;
        path.pop_back();
        continue;
      }
      const std::size_t target = edges[node][next++].first;
      if (marks[target] == Mark::New) {
        marks[target] = Mark::OnPath;
        path.emplace_back(target, 0);
        continue;
      }
      if (marks[target] != Mark::OnPath) continue;
      // A cycle: target -> ... -> node -> target. Start it at its first
      // program by name and report it at that program's entry naming the
      // next one.
      std::vector<std::size_t> cycle;
      std::size_t from = path.size();
      while (path[from - 1].first != target) --from;
      for (std::size_t k = from - 1; k < path.size(); ++k) cycle.push_back(path[k].first);
      const auto first = std::min_element(cycle.begin(), cycle.end(), [&](auto a, auto b) {
        return drafts_[a].program.name < drafts_[b].program.name;
      });
      std::rotate(cycle.begin(), first, cycle.end());
      std::string text;
      for (std::size_t member : cycle) text += drafts_[member].program.name + " -> ";
      text += drafts_[cycle.front()].program.name;
      const std::size_t second = cycle.size() > 1 ? cycle[1] : cycle[0];
      Pos where = drafts_[cycle.front()].header;
      for (const auto& [to, at] : edges[cycle.front()]) {
        if (to == second) where = at;
      }
      error(where, fmt::format("depends_on makes a cycle: {}", text));
    }
  }
}

}  // namespace minisup::config::detail
