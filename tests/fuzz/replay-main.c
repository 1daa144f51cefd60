/* Standalone replay driver for libFuzzer harnesses: links with one fuzz-<name>.c and feeds it
 * inputs without libFuzzer, so corpora and crash reproducers run in every build (gcc, sanitizer
 * or not).
 *
 *   fuzz-<name>.replay [-v] PATH...
 *
 * Each PATH is a file or a directory (walked recursively, sorted, dot-files skipped). Every
 * file's bytes go to LLVMFuzzerTestOneInput in a buffer of exactly that size, so AddressSanitizer
 * sees one-byte over-reads. Before each input its path is written to stderr ("replay: PATH"),
 * so a crash names the input that caused it; at the end stdout gets "replayed N inputs".
 * Exit status: 0, or 2 when a path cannot be read (a harness crash ends the process anyway). */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Optional in a harness; a weak reference is null when the harness has none. */
extern int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static unsigned long replayed;
static int verbose;

static int replay_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t cap = 4096, len = 0;
  unsigned char *buf = malloc(cap);
  if (buf == NULL) {
    fclose(f);
    fprintf(stderr, "replay: out of memory\n");
    return -1;
  }
  size_t n;
  while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
    len += n;
    if (len == cap) {
      unsigned char *bigger = realloc(buf, cap * 2);
      if (bigger == NULL) {
        free(buf);
        fclose(f);
        fprintf(stderr, "replay: out of memory reading %s\n", path);
        return -1;
      }
      buf = bigger;
      cap *= 2;
    }
  }
  int read_error = ferror(f);
  fclose(f);
  if (read_error) {
    free(buf);
    fprintf(stderr, "replay: error reading %s\n", path);
    return -1;
  }

  /* An exact-size copy: the harness must not read past the end. */
  unsigned char *input = malloc(len > 0 ? len : 1);
  if (input == NULL) {
    free(buf);
    fprintf(stderr, "replay: out of memory\n");
    return -1;
  }
  if (len > 0)
    memcpy(input, buf, len);
  free(buf);

  fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
  LLVMFuzzerTestOneInput(input, len);
  free(input);
  replayed++;
  if (verbose)
    printf("ok %s\n", path);
  return 0;
}

static int filter_dotfiles(const struct dirent *d)
{
  return d->d_name[0] != '.';
}

static int replay_path(const char *path)
{
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (!S_ISDIR(st.st_mode))
    return replay_file(path);

  struct dirent **names = NULL;
  int count = scandir(path, &names, filter_dotfiles, alphasort);
  if (count < 0) {
    fprintf(stderr, "replay: cannot list %s: %s\n", path, strerror(errno));
    return -1;
  }
  int rc = 0;
  for (int i = 0; i < count; i++) {
    size_t need = strlen(path) + 1 + strlen(names[i]->d_name) + 1;
    char *child = malloc(need);
    if (child == NULL) {
      rc = -1;
    } else {
      snprintf(child, need, "%s/%s", path, names[i]->d_name);
      if (replay_path(child) != 0)
        rc = -1;
      free(child);
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv)
{
  if (LLVMFuzzerInitialize != NULL)
    LLVMFuzzerInitialize(&argc, &argv);

  int rc = 0, paths = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0) {
      verbose = 1;
      continue;
    }
    if (argv[i][0] == '-') /* libFuzzer-style options (-runs=...) mean nothing here */
      continue;
    paths++;
    if (replay_path(argv[i]) != 0)
      rc = 2;
  }
  if (paths == 0) {
    fprintf(stderr, "usage: %s [-v] FILE-OR-DIRECTORY...\n", argv[0]);
    return 2;
  }
  printf("replayed %lu inputs\n", replayed);
  return rc;
}
