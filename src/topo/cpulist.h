// cpulist.h — sets of CPU numbers in the kernel's list format ("0-3,8,10-11"), and the calling thread's
// CPU affinity as such a set. Part of the topology module (src/topo); no other dependencies.
//
// Contract: a CpuList is sorted and free of duplicates. Parsing never throws: malformed text returns
// false and leaves *out empty. The affinity helpers act on the calling thread only.
#pragma once

#include <string>
#include <vector>

namespace conccl {

using CpuList = std::vector<int>;  // sorted, unique CPU numbers

// Parses "0-3,8" (whitespace around the text and a trailing newline allowed; "" = empty set).
// Returns false for anything else (negative numbers, reversed ranges, CPUs >= 65536, stray characters).
bool ParseCpuList(const std::string& text, CpuList* out);
// The kernel's list form of `cpus` ("" for the empty set).
std::string FormatCpuList(const CpuList& cpus);
// Elements of both sets.
CpuList IntersectCpus(const CpuList& a, const CpuList& b);
// True when every element of `sub` is in `super`.
bool CpusSubset(const CpuList& sub, const CpuList& super);

// The calling thread's affinity (sched_getaffinity). False (errno set) when the kernel refuses.
bool GetThreadCpus(CpuList* out);
// The process's affinity: its main thread's, which threads inherit unless they narrow their own.
bool GetProcessCpus(CpuList* out);
// Restricts the calling thread to `cpus` (sched_setaffinity). False (errno set) when the kernel refuses
// or `cpus` is empty.
bool SetThreadCpus(const CpuList& cpus);

}  // namespace conccl
