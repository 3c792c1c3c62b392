// json_row.h — one JSON object on one line (the -J rows of conccl-train). Keys are written in the order
// they are added; strings are escaped; non-finite numbers are written as null (JSON has no NaN).
#ifndef CONCCL_TRAIN_JSON_ROW_H_
#define CONCCL_TRAIN_JSON_ROW_H_

#include <stdint.h>
#include <stdio.h>

#include <string>

namespace cctrain {

class JsonRow {
 public:
  JsonRow& Add(const std::string& key, const std::string& value);
  JsonRow& Add(const std::string& key, const char* value) { return Add(key, std::string(value)); }
  JsonRow& Add(const std::string& key, double value);
  JsonRow& Add(const std::string& key, int64_t value);
  JsonRow& Add(const std::string& key, int value) { return Add(key, static_cast<int64_t>(value)); }
  JsonRow& Add(const std::string& key, uint64_t value) { return Add(key, static_cast<int64_t>(value)); }
  JsonRow& Add(const std::string& key, bool value);
  std::string Text() const { return "{" + body_ + "}"; }

 private:
  void Key(const std::string& key);
  std::string body_;
};

std::string JsonEscape(const std::string& s);

}  // namespace cctrain

#endif  // CONCCL_TRAIN_JSON_ROW_H_
