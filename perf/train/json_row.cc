// json_row.cc — JsonRow.
#include "json_row.h"

#include <cmath>

namespace cctrain {

std::string JsonEscape(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

void JsonRow::Key(const std::string& key) {
  if (!body_.empty()) body_ += ", ";
  body_ += JsonEscape(key) + ": ";
}

JsonRow& JsonRow::Add(const std::string& key, const std::string& value) {
  Key(key);
  body_ += JsonEscape(value);
  return *this;
}

JsonRow& JsonRow::Add(const std::string& key, double value) {
  Key(key);
  if (!std::isfinite(value)) {
    body_ += "null";
  } else {
    char buf[40];
    snprintf(buf, sizeof buf, "%.9g", value);
    body_ += buf;
  }
  return *this;
}

JsonRow& JsonRow::Add(const std::string& key, int64_t value) {
  Key(key);
  body_ += std::to_string(value);
  return *this;
}

JsonRow& JsonRow::Add(const std::string& key, bool value) {
  Key(key);
  body_ += value ? "true" : "false";
  return *this;
}

}  // namespace cctrain
