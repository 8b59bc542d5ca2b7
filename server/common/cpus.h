// How many CPUs this process may run on.

#ifndef VERDICT_SERVER_COMMON_CPUS_H_
#define VERDICT_SERVER_COMMON_CPUS_H_

namespace verdict {

// The CPUs in the calling thread's affinity mask (taskset, cgroup cpusets),
// at least 1; the machine's CPU count is not what a pinned process gets.
int UsableCpuCount();

}  // namespace verdict

#endif  // VERDICT_SERVER_COMMON_CPUS_H_
