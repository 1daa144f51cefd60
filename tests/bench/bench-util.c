#include "bench-util.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

double bench_now_sec(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *bench_pin_cpu(int cpu)
{
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0)
    return g_strdup_printf("not pinned (sched_setaffinity CPU %d: %s)", cpu, g_strerror(errno));
  return g_strdup_printf("pinned to CPU %d", cpu);
}

static char *cpu_model(void)
{
  g_autofree char *info = NULL;
  if (!g_file_get_contents("/proc/cpuinfo", &info, NULL, NULL))
    return g_strdup("unknown");
  g_auto(GStrv) lines = g_strsplit(info, "\n", -1);
  for (char **l = lines; *l; l++) {
    const char *colon = strchr(*l, ':');
    if (g_str_has_prefix(*l, "model name") && colon)
      return g_strstrip(g_strdup(colon + 1));
  }
  return g_strdup("unknown");
}

static const char *compiler(void)
{
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "gcc " __VERSION__;
#else
  return "unknown compiler";
#endif
}

#if defined(__SANITIZE_ADDRESS__)
#define BENCH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BENCH_ASAN 1
#endif
#endif

static const char *build_notes(void)
{
#if defined(BENCH_ASAN)
  return " [AddressSanitizer build: figures are not representative]";
#elif !defined(__OPTIMIZE__)
  return " [unoptimised build: figures are not representative]";
#else
  return "";
#endif
}

void bench_print_machine(const char *title, const char *libraries, const char *timing)
{
  struct utsname u;
  g_autofree char *model = cpu_model();
  printf("%s\n", title);
  printf("machine:  %s, %ld cores online\n", model, sysconf(_SC_NPROCESSORS_ONLN));
  if (uname(&u) == 0)
    printf("kernel:   %s %s %s\n", u.sysname, u.release, u.machine);
  printf("compiler: %s%s\n", compiler(), build_notes());
  if (libraries)
    printf("%s\n", libraries);
  if (timing)
    printf("timing:   %s\n", timing);
  fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double bench_median(const char *name, const char *unit, BenchTrialFn trial, gpointer ctx,
                    double seconds, int trials)
{
  double rates[16];
  trial(ctx, MIN(0.3, seconds)); /* warm-up: caches, allocator, CPU clock */
  trials = CLAMP(trials, 1, (int)G_N_ELEMENTS(rates));
  for (int i = 0; i < trials; i++)
    rates[i] = trial(ctx, seconds);
  qsort(rates, (size_t)trials, sizeof rates[0], cmp_double);
  double median = rates[trials / 2], best = rates[trials - 1];
  double spread = trials > 1 ? 100.0 * (best - rates[0]) / median : 0.0;
  printf("%-58s %11.0f %s/s %8.3f us  (best %.0f/s, spread %.1f%%)\n", name, median, unit,
         1e6 / median, best, spread);
  fflush(stdout);
  return median;
}
