// Checks that every ```cpp and ```cmake block of the given Markdown files is
// taken from a source file the build compiles, so the docs cannot drift.
//
// Usage: lightbus_check_snippets DOC.md... -- SOURCE...
//
// A block matches when it appears verbatim in a source file, or in a region
// of one marked with `// [name]` (or `# [name]`) lines, with the region's
// common indentation removed. Exits 1 and names each block that matches
// nothing (file, line, first line of the block); 2 for bad usage.

#include <algorithm>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct block {
  std::string file;
  size_t line = 0;
  std::string text;
};

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

// The ```cpp / ```cmake blocks of a Markdown file.
std::vector<block> code_blocks(const std::string& file, const std::string& text) {
  static const std::regex open{R"(^\s*```(cpp|c\+\+|cmake)\s*$)"};
  static const std::regex close{R"(^\s*```\s*$)"};
  std::vector<block> out;
  auto lines = split_lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!std::regex_match(lines[i], open))
      continue;
    block b{file, i + 1, {}};
    size_t j = i + 1;
    for (; j < lines.size() && !std::regex_match(lines[j], close); ++j)
      b.text += lines[j] + "\n";
    out.push_back(std::move(b));
    i = j;
  }
  return out;
}

std::string dedent(const std::vector<std::string>& lines) {
  size_t indent = std::string::npos;
  for (const auto& l : lines)
    if (auto p = l.find_first_not_of(' '); p != std::string::npos)
      indent = std::min(indent, p);
  std::string out;
  for (const auto& l : lines)
    out += (l.size() > indent && indent != std::string::npos ? l.substr(indent) : "")
           + "\n";
  return out;
}

// The whole file plus each marked region, dedented.
std::vector<std::string> candidates(const std::string& text) {
  static const std::regex marker{R"(^\s*(//|#) \[[A-Za-z0-9_.-]+\]\s*$)"};
  std::vector<std::string> out{text};
  auto lines = split_lines(text);
  std::vector<size_t> starts; // open regions (they may nest)
  std::vector<std::string> names;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!std::regex_match(lines[i], marker))
      continue;
    auto name = lines[i].substr(lines[i].find('['));
    auto open = std::find(names.begin(), names.end(), name);
    if (open == names.end()) {
      names.push_back(name);
      starts.push_back(i + 1);
      continue;
    }
    auto k = static_cast<size_t>(open - names.begin());
    std::vector<std::string> region;
    for (size_t j = starts[k]; j < i; ++j)
      if (!std::regex_match(lines[j], marker))
        region.push_back(lines[j]);
    out.push_back(dedent(region));
    names.erase(open);
    starts.erase(starts.begin() + static_cast<long>(k));
  }
  return out;
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> docs;
  std::vector<std::string> sources;
  bool in_sources = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--")
      in_sources = true;
    else
      (in_sources ? sources : docs).push_back(arg);
  }
  if (docs.empty() || sources.empty()) {
    std::cerr << "usage: lightbus_check_snippets DOC.md... -- SOURCE...\n";
    return 2;
  }
  std::vector<std::string> texts;
  for (const auto& s : sources) {
    std::string text;
    if (!read_file(s, text)) {
      std::cerr << s << ": cannot read this snippet source\n";
      return 2;
    }
    auto c = candidates(text);
    texts.insert(texts.end(), c.begin(), c.end());
  }
  size_t checked = 0;
  size_t missing = 0;
  for (const auto& d : docs) {
    std::string text;
    if (!read_file(d, text)) {
      std::cerr << d << ": cannot read this Markdown file\n";
      return 2;
    }
    for (const auto& b : code_blocks(d, text)) {
      ++checked;
      bool found = std::any_of(texts.begin(), texts.end(), [&](const std::string& t) {
        return t.find(b.text) != std::string::npos;
      });
      if (!found) {
        ++missing;
        auto first = b.text.substr(0, b.text.find('\n'));
        std::cerr << b.file << ":" << b.line
                  << ": code block not found in any snippet source (" << first
                  << "); copy it from docs/snippets/ or change the source\n";
      }
    }
  }
  std::cout << checked << " code blocks checked, " << missing << " not found in "
            << sources.size() << " snippet sources\n";
  return missing == 0 ? 0 : 1;
}
