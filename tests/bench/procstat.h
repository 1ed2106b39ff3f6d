/* procstat.h — CPU time of processes and of the machine, read from /proc, for the
 * bench's cost figures. */
#ifndef STOCKMESH_BENCH_PROCSTAT_H
#define STOCKMESH_BENCH_PROCSTAT_H

#include <sys/types.h>

/* utime + stime of a process (every thread), seconds; 0 when it is gone. */
double procstat_cpu(pid_t pid);

/* CPU seconds the whole machine has been busy (all cores, all processes). */
double procstat_machine_busy(void);

/* utime + stime of this process, seconds. */
double procstat_self_cpu(void);

/* The 1-minute load average, or NAN when unreadable. */
double procstat_loadavg1(void);

#endif
