/* What every benchmark shares: the machine it ran on (printed first, so figures are never
 * quoted without it), a monotonic clock, CPU pinning and the median-of-trials rate. */
#pragma once

#include <glib.h>

double bench_now_sec(void);

/* Pins the process to one CPU; returns a line saying what happened (g_free). */
char *bench_pin_cpu(int cpu);

/* "title", then machine (CPU model, cores), kernel, compiler with a warning for unoptimised or
 * sanitizer builds, the libraries line the caller gives (may be NULL) and the timing line. */
void bench_print_machine(const char *title, const char *libraries, const char *timing);

/* One trial: run for about `seconds`, return operations per second. */
typedef double (*BenchTrialFn)(gpointer ctx, double seconds);

/* A short warm-up, then `trials` trials; prints "name  median unit/s  µs/op (best, spread)"
 * and returns the median rate. */
double bench_median(const char *name, const char *unit, BenchTrialFn trial, gpointer ctx,
                    double seconds, int trials);
