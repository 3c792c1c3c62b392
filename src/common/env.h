// env.h — the environment-variable registry. Every CONCCL_* variable is declared once in env.cc with its
// default and a doc line; code reads variables only through these functions, which refuse undeclared
// names (an internal error, caught by tests). tools/conccl-info prints the table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace conccl {

struct EnvVarInfo {
  const char* name;
  const char* defaultValue;  // as text; "" = unset
  const char* doc;
};

// All declared variables, in declaration order.
const std::vector<EnvVarInfo>& EnvRegistry();

// The variable's value from the environment, else its declared default.
std::string EnvString(const char* name);
// As EnvString, parsed as an integer; a malformed value logs a WARN and yields the default.
int64_t EnvInt(const char* name);
// True when the variable is set in the environment (to anything, even "").
bool EnvIsSet(const char* name);

}  // namespace conccl
