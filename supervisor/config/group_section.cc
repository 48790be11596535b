// [group.NAME] tables (Loader::read_groups, read_group, check_groups;
// loader.h): supervisord's `[group:NAME]` as a name that selects every
// process of its programs (`minisupctl restart NAME:*`). A group holds
// `programs` (required: a non-empty array of program names) and
// `priority` (optional: the priority of the member programs that set
// none). Groups may be written in the main file and in included files;
// the names are checked once every file is read: each program named
// exists, a program belongs to at most one group, and no group has the
// name of a program (`NAME:*` would be ambiguous).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <tuple>
#include <utility>

#include "supervisor/config/loader.h"
#include "supervisor/config/value_parsers.h"
#include "supervisor/config/value_text.h"

namespace minisup::config::detail {
namespace {

constexpr std::array<std::string_view, 2> kGroupKeys{"programs", "priority"};

std::string at(const SourceLocation& where) {
  return fmt::format("{}:{}:{}", where.file, where.line, where.column);
}

}  // namespace

void Loader::read_groups(const toml::node& node, const toml::key& key, const SourceFile& file) {
  const auto* groups = node.as_table();
  if (groups == nullptr) {
    error(location(file, key.source()),
          fmt::format("group must hold [group.NAME] tables, got {}", describe(node)));
    return;
  }
  // File order, as for programs: "defined twice" points at the later one.
  std::vector<std::pair<const toml::key*, const toml::node*>> ordered;
  for (auto&& [name, value] : *groups) ordered.emplace_back(&name, &value);
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    const auto& pa = a.second->source().begin;
    const auto& pb = b.second->source().begin;
    return std::tie(pa.line, pa.column) < std::tie(pb.line, pb.column);
  });
  for (const auto& [name, value] : ordered) read_group(*name, *value, file);
}

void Loader::read_group(const toml::key& key, const toml::node& node, const SourceFile& file) {
  const std::string name(key.str());
  const auto* table = node.as_table();
  if (table == nullptr) {
    std::string hint = node.is_array_of_tables() ? " (write [group.NAME], not [[group.NAME]])" : "";
    error(location(file, key.source()),
          fmt::format("group.{} must be a table, got {}{}", truncate(name), describe(node), hint));
    return;
  }
  bool name_ok = true;
  if (!is_valid_program_name(name)) {
    error(location(file, key.source()),
          fmt::format("group name {} may only contain letters, digits, \"_\", \".\" and \"-\"",
                      quote(name)));
    name_ok = false;
  } else if (name.size() > kMaxProgramNameLength) {
    error(location(file, key.source()), fmt::format("group name {} is longer than {} characters",
                                                    quote(name), kMaxProgramNameLength));
    name_ok = false;
  }

  GroupDraft draft;
  draft.header = location(file, node.source());
  draft.key = location(file, key.source());
  draft.group.name = name;
  draft.group.where = to_location(draft.header);
  const std::string table_name = "[group." + truncate(name) + "]";
  for (auto&& [k, value] : *table) {
    const std::string key_name(k.str());
    const Field f{key_name, value, location(file, value.source())};
    if (key_name == "programs") {
      const auto* array = value.as_array();
      if (array == nullptr || array->empty()) {
        error(f.where, fmt::format("programs must be a non-empty array of program names, got {}",
                                   describe(value)));
        continue;
      }
      for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        const Pos where = location(file, element.source());
        auto program = as_string({fmt::format("programs[{}]", i), element, where});
        if (!program) continue;
        const auto& members = draft.group.programs;
        if (std::find(members.begin(), members.end(), *program) != members.end()) {
          error(where, fmt::format("programs[{}]: {} is listed twice", i, quote(*program)));
          continue;
        }
        draft.group.programs.push_back(std::move(*program));
        draft.program_where.push_back(where);
      }
    } else if (key_name == "priority") {
      if (auto n = as_int(f, std::numeric_limits<int>::min(), std::numeric_limits<int>::max())) {
        draft.group.priority = static_cast<int>(*n);
      }
    } else {
      unknown_key(k, file, table_name, kGroupKeys);
    }
  }
  if (!table->contains("programs")) {
    error(draft.header,
          fmt::format("{} has no programs; programs = [\"NAME\", ...] is required", table_name));
  }
  if (!name_ok) return;
  for (const GroupDraft& other : groups_) {
    if (other.group.name == name) {
      error(draft.key, fmt::format("group {} is defined twice: at {} and at {}", quote(name),
                                   at(other.group.where), at(draft.group.where)));
      return;
    }
  }
  groups_.push_back(std::move(draft));
}

void Loader::check_groups() {
  std::vector<std::string_view> program_names;
  for (const auto& [name, index] : program_index_) program_names.push_back(name);
  std::map<std::string, const GroupDraft*> member_of;  // program -> its group
  for (const GroupDraft& draft : groups_) {
    const GroupConfig& group = draft.group;
    if (auto it = program_index_.find(group.name); it != program_index_.end()) {
      error(
          draft.key,
          fmt::format("group {} has the name of program {} (at {}); a group and a program may "
                      "not share a name",
                      quote(group.name), quote(group.name), at(drafts_[it->second].program.where)));
    }
    for (std::size_t i = 0; i < group.programs.size(); ++i) {
      const std::string& program = group.programs[i];
      const Pos& where = draft.program_where[i];
      const auto it = program_index_.find(program);
      if (it == program_index_.end()) {
        std::string message = fmt::format("group {}: programs names {}, which is not a program",
                                          quote(group.name), quote(program));
        if (auto suggestion = closest_match(program, program_names)) {
          message += fmt::format("; did you mean {}?", quote(*suggestion));
        }
        error(where, std::move(message));
        continue;
      }
      auto [first, inserted] = member_of.emplace(program, &draft);
      if (!inserted) {
        error(where,
              fmt::format("program {} is in group {} (at {}) and in group {}; a program belongs to "
                          "one group at most",
                          quote(program), quote(first->second->group.name),
                          at(first->second->group.where), quote(group.name)));
        continue;
      }
      ProgramDraft& member = drafts_[it->second];
      if (group.priority && !member.sets_priority) member.program.priority = *group.priority;
    }
  }
}

}  // namespace minisup::config::detail
