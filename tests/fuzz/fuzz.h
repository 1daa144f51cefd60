/* The libFuzzer entry points. A harness tests/fuzz/fuzz-<name>.c includes this header (so
 * -Wmissing-prototypes is satisfied) and defines LLVMFuzzerTestOneInput; it may also define
 * LLVMFuzzerInitialize. The same object is linked two ways: with tests/fuzz/replay-main.c
 * into tests/fuzz/fuzz-<name>.replay (every build; `make check` replays the corpus), and with
 * libFuzzer into tests/fuzz/fuzz-<name> (--enable-fuzzers; `make fuzz`).
 *
 * A harness must not keep state between calls, must not exit or abort on bad input (that is
 * a finding), and should free everything it allocates (LeakSanitizer is on). */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
