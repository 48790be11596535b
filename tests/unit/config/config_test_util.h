// Test helpers for the config module: a temporary directory to write
// config files into, and load_config() with messages made relative to it.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "supervisor/config/load_config.h"

namespace minisup::config::testing {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "minisup-config-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  /// Writes `text` to `dir_/relative` (creating directories); returns the path.
  fs::path write(const std::string& relative, const std::string& text) {
    const fs::path path = dir_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << text;
    return path;
  }

  /// Writes `text` as dir_/minisup.toml and loads it.
  LoadResult load(const std::string& text, const Environment& env = {}) {
    write("minisup.toml", text);
    return load_file("minisup.toml", env);
  }

  LoadResult load_file(const std::string& relative, const Environment& env = {}) {
    return load_config(dir_ / relative, env);
  }

  /// `s` with every "<dir_>/" removed, so messages read `minisup.toml:3:1: ...`.
  std::string strip(std::string s) const {
    const std::string prefix = dir_.string() + "/";
    for (std::size_t at; (at = s.find(prefix)) != std::string::npos;) s.erase(at, prefix.size());
    return s;
  }

  std::vector<std::string> errors(const LoadResult& result) const {
    std::vector<std::string> out;
    for (const auto& e : result.errors) out.push_back(strip(e.to_string()));
    return out;
  }

  std::vector<std::string> warnings(const LoadResult& result) const {
    std::vector<std::string> out;
    for (const auto& w : result.warnings) out.push_back(strip(w));
    return out;
  }

  /// Loads `text` and returns its single error ("" and a test failure when
  /// there is not exactly one).
  std::string only_error(const std::string& text, const Environment& env = {}) {
    const LoadResult result = load(text, env);
    EXPECT_EQ(result.errors.size(), 1u) << ::testing::PrintToString(errors(result));
    EXPECT_FALSE(result.config.has_value());
    return result.errors.empty() ? "" : strip(result.errors.front().to_string());
  }

  /// Loads `text`, expecting no errors; returns the config.
  Config load_ok(const std::string& text, const Environment& env = {}) {
    const LoadResult result = load(text, env);
    EXPECT_TRUE(result.errors.empty()) << ::testing::PrintToString(errors(result));
    if (!result.config) return Config{};
    return *result.config;
  }

  /// A config whose [program.web] has a command (line 2) and then `extra`
  /// from line 3 on.
  static std::string web(const std::string& extra) {
    return "[program.web]\ncommand = \"/bin/true\"\n" + extra + "\n";
  }

  fs::path dir_;
};

}  // namespace minisup::config::testing
