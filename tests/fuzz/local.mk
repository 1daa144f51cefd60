# tests/fuzz: libFuzzer harnesses and their corpora.
#
# Add a harness tests/fuzz/fuzz-foo.c (it includes "fuzz.h" and defines
# LLVMFuzzerTestOneInput) with seed inputs in tests/fuzz/corpus/foo/: two lines here,
#
#	FUZZ_REPLAYS += tests/fuzz/fuzz-foo.replay
#	tests_fuzz_fuzz_foo_replay_SOURCES = tests/fuzz/fuzz-foo.c tests/fuzz/replay-main.c
#
# That gives, in every build (gcc too, sanitizers or not):
#   tests/fuzz/fuzz-foo.replay   harness + replay-main.c; `make check` runs it over
#                                tests/fuzz/corpus/foo/ through run-corpus.sh (one TAP case).
#                                Also by hand: tests/fuzz/fuzz-foo.replay FILE-OR-DIR...
# and with ./configure CC=clang --enable-fuzzers:
#   tests/fuzz/fuzz-foo          the libFuzzer binary (same object, linked with -fsanitize=fuzzer)
#   make fuzz FUZZ_SECONDS=N     runs each for N seconds (default 60) on a copy of its corpus in
#                                tests/fuzz/work/foo/; crashes land in tests/fuzz/artifacts/foo/.
#                                Extra libFuzzer options: make fuzz FUZZ_ARGS='-max_len=4096'
# Keep new inputs worth keeping by minimising them into the corpus, e.g.
#   tests/fuzz/fuzz-foo -merge=1 $(srcdir)/tests/fuzz/corpus/foo tests/fuzz/work/foo
# A harness that needs more than libmikey: tests_fuzz_fuzz_foo_replay_LDADD = $(LDADD) ...
# (the libFuzzer binary links with $(LDADD) only).

FUZZ_REPLAYS += \
	tests/fuzz/fuzz-config.replay \
	tests/fuzz/fuzz-control.replay \
	tests/fuzz/fuzz-kms-body.replay \
	tests/fuzz/fuzz-media-rx.replay \
	tests/fuzz/fuzz-mikey-parse.replay \
	tests/fuzz/fuzz-sdp.replay \
	tests/fuzz/fuzz-sdpaudio.replay \
	tests/fuzz/fuzz-ticket.replay \
	$(NULL)
tests_fuzz_fuzz_mikey_parse_replay_SOURCES = tests/fuzz/fuzz-mikey-parse.c tests/fuzz/replay-main.c
tests_fuzz_fuzz_sdp_replay_SOURCES = tests/fuzz/fuzz-sdp.c tests/fuzz/replay-main.c
tests_fuzz_fuzz_sdpaudio_replay_SOURCES = tests/fuzz/fuzz-sdpaudio.c tests/fuzz/replay-main.c
tests_fuzz_fuzz_sdpaudio_replay_LDADD = $(COMMON_LIBS)
# (its libFuzzer binary too: the rule below links $(LDADD) only)
tests/fuzz/fuzz-sdpaudio$(EXEEXT): LDADD = $(COMMON_LIBS)
tests/fuzz/fuzz-sdpaudio$(EXEEXT): src/common/libcommon.a
# Scenario A's keys and the re-signing of requests, shared by fuzz-ticket and fuzz-kms-body.
noinst_LIBRARIES += tests/fuzz/libfuzzscenario.a
tests_fuzz_libfuzzscenario_a_SOURCES = tests/fuzz/scenario.c tests/fuzz/scenario.h
tests_fuzz_fuzz_ticket_replay_SOURCES = tests/fuzz/fuzz-ticket.c tests/fuzz/replay-main.c
tests_fuzz_fuzz_ticket_replay_LDADD = tests/fuzz/libfuzzscenario.a $(LDADD)
tests/fuzz/fuzz-ticket$(EXEEXT): LDADD = tests/fuzz/libfuzzscenario.a src/mikey/libmikey.a $(MIKEY_LIBS)
tests/fuzz/fuzz-ticket$(EXEEXT): tests/fuzz/libfuzzscenario.a
# fuzz-kms-body: the KMS engine over a real store (libkms).
KMS_FUZZ_LIBS = tests/fuzz/libfuzzscenario.a $(KMS_LIBS)
tests_fuzz_fuzz_kms_body_replay_SOURCES = tests/fuzz/fuzz-kms-body.c tests/fuzz/replay-main.c
tests_fuzz_fuzz_kms_body_replay_LDADD = $(KMS_FUZZ_LIBS)
tests/fuzz/fuzz-kms-body$(EXEEXT): LDADD = $(KMS_FUZZ_LIBS)
tests/fuzz/fuzz-kms-body$(EXEEXT): tests/fuzz/libfuzzscenario.a src/kms/libkms.a \
	src/common/libcommon.a
tests_fuzz_fuzz_control_replay_SOURCES = tests/fuzz/fuzz-control.c tests/fuzz/replay-main.c
tests_fuzz_fuzz_control_replay_LDADD = $(FOCUS_LIBS)
tests/fuzz/fuzz-control$(EXEEXT): LDADD = $(FOCUS_LIBS)
tests/fuzz/fuzz-control$(EXEEXT): src/focus/libfocus.a src/common/libcommon.a
tests_fuzz_fuzz_media_rx_replay_SOURCES = tests/fuzz/fuzz-media-rx.c tests/fuzz/replay-main.c
tests_fuzz_fuzz_media_rx_replay_LDADD = $(FOCUS_LIBS)
tests/fuzz/fuzz-media-rx$(EXEEXT): LDADD = $(FOCUS_LIBS)
tests/fuzz/fuzz-media-rx$(EXEEXT): src/focus/libfocus.a src/common/libcommon.a

# fuzz-config: the three programs' option tables (libkms, libfocus, libua) read a config file.
CONFIG_FUZZ_LIBS = src/ua/libua.a src/kms/libkms.a src/focus/libfocus.a $(SIPGLIB_LIBS) $(COMMON_LIBS)
tests_fuzz_fuzz_config_replay_SOURCES = tests/fuzz/fuzz-config.c tests/fuzz/replay-main.c
tests_fuzz_fuzz_config_replay_LDADD = $(CONFIG_FUZZ_LIBS)
tests/fuzz/fuzz-config$(EXEEXT): LDADD = $(CONFIG_FUZZ_LIBS)
tests/fuzz/fuzz-config$(EXEEXT): src/ua/libua.a src/kms/libkms.a src/focus/libfocus.a \
	src/common/libsipglib.a src/common/libcommon.a

EXTRA_DIST += \
	tests/fuzz/corpus \
	tests/fuzz/fuzz.h \
	tests/fuzz/replay-main.c \
	tests/fuzz/run-corpus.sh \
	$(NULL)

# make check: a *.replay test is run as "run-corpus.sh tests/fuzz/fuzz-foo.replay".
REPLAY_LOG_COMPILER = $(SHELL) $(top_srcdir)/tests/fuzz/run-corpus.sh
REPLAY_LOG_DRIVER = $(LOG_DRIVER)
AM_REPLAY_LOG_FLAGS =

FUZZ_SECONDS = 60
FUZZ_ARGS =
FUZZ_WORK_DIR = $(top_builddir)/tests/fuzz/work
FUZZ_ARTIFACTS_DIR = $(top_builddir)/tests/fuzz/artifacts
FUZZ_ALL_BINARIES = $(FUZZ_REPLAYS:.replay=$(EXEEXT))
CLEANFILES += $(FUZZ_ALL_BINARIES)

if ENABLE_FUZZERS
FUZZ_BINARIES = $(FUZZ_ALL_BINARIES)

# The libFuzzer binary reuses the harness object of the replay binary (compiled with
# -fsanitize=fuzzer-no-link in this configuration).
$(FUZZ_BINARIES): tests/fuzz/%$(EXEEXT): tests/fuzz/%.$(OBJEXT) src/mikey/libmikey.a
	$(AM_V_CCLD)$(CCLD) $(AM_CFLAGS) $(CFLAGS) $(FUZZ_LDFLAGS) $(AM_LDFLAGS) $(LDFLAGS) \
	  -o $@ $< $(LDADD) $(LIBS)

fuzz: $(FUZZ_BINARIES)
	@list='$(FUZZ_BINARIES)'; failed=; \
	if test -z "$$list"; then echo "make fuzz: no fuzz harnesses yet (see tests/fuzz/local.mk)"; exit 0; fi; \
	for b in $$list; do \
	  n=`basename $$b $(EXEEXT)`; n=$${n#fuzz-}; \
	  work=$(FUZZ_WORK_DIR)/$$n; art=$(FUZZ_ARTIFACTS_DIR)/$$n; \
	  rm -rf $$work; $(MKDIR_P) $$work $$art; \
	  if test -d $(srcdir)/tests/fuzz/corpus/$$n; then cp -R $(srcdir)/tests/fuzz/corpus/$$n/. $$work/; fi; \
	  echo "=== fuzz-$$n: $(FUZZ_SECONDS)s on $$work (crashes: $$art/)"; \
	  ./$$b -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$$art/ \
	    $(FUZZ_ARGS) $$work || failed="$$failed fuzz-$$n"; \
	done; \
	if test -n "$$failed"; then echo "make fuzz: findings in:$$failed (see $(FUZZ_ARTIFACTS_DIR))"; exit 1; fi; \
	echo "make fuzz: no findings"
else
FUZZ_BINARIES =

fuzz:
	@echo "make fuzz needs a libFuzzer build: ./configure CC=clang --enable-fuzzers" >&2; exit 1
endif

all-local: $(FUZZ_BINARIES)

clean-fuzz:
	-rm -rf $(FUZZ_WORK_DIR) $(FUZZ_ARTIFACTS_DIR)

.PHONY: fuzz clean-fuzz
