// The dashboard (supervisor/http/dashboard.html), embedded in minisupd at
// build time (scripts/embed_file.cmake): one page, no external assets.
#pragma once

#include <string_view>

namespace minisup::http {

extern const std::string_view kDashboardHtml;

}  // namespace minisup::http
