# tests/bench: benchmarks. Never built by `make` or `make check`, never pass/fail.
# `make bench` builds every program in BENCHMARKS, runs each, and writes what it prints
# to tests/bench/results/<name>.txt (in the build tree) as well as to the terminal.
# Arguments for all of them: make bench BENCH_ARGS='...'
#
# Add a benchmark tests/bench/bench-foo.c: one line in the list below
#	tests/bench/bench-foo \
# (default source tests/bench/bench-foo.c, default LDADD: libmikey + GLib + OpenSSL + json-glib;
# if it needs more:  tests_bench_bench_foo_LDADD = $(LDADD) $(SRTP_LIBS) )

BENCHMARKS += \
	tests/bench/bench-focus \
	tests/bench/bench-focus-media \
	tests/bench/bench-kms \
	tests/bench/bench-media \
	tests/bench/bench-mikey \
	$(NULL)
# Every benchmark prints the machine and times its trials with bench-util.c.
BENCH_UTIL = tests/bench/bench-util.c tests/bench/bench-util.h

# bench-mikey reads the golden exchange of the source tree (or --data DIR).
tests_bench_bench_mikey_SOURCES = tests/bench/bench-mikey.c $(BENCH_UTIL)
tests_bench_bench_mikey_CPPFLAGS = $(AM_CPPFLAGS) \
	-DMIKEY_BENCH_DATADIR='"$(abs_top_srcdir)/tests/data/exchange"'

# bench-kms runs the daemon of the build tree (and links libkms to fill its store).
tests_bench_bench_kms_CPPFLAGS = $(COMMON_CPPFLAGS) \
	-DBENCH_KMSD='"$(abs_top_builddir)/src/kms/mikeykmsd$(EXEEXT)"'
tests_bench_bench_kms_LDADD = $(KMS_LIBS)
EXTRA_tests_bench_bench_kms_DEPENDENCIES = src/kms/mikeykmsd$(EXEEXT)

# bench-media: srtpctx (libsrtp2) and g711 of libcommon.
tests_bench_bench_media_SOURCES = tests/bench/bench-media.c $(BENCH_UTIL)
tests_bench_bench_media_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_bench_bench_media_LDADD = $(COMMON_LIBS)

# bench-focus-media: the media engine of libfocus (one worker) and an in-process load thread.
tests_bench_bench_focus_media_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_bench_bench_focus_media_LDADD = $(FOCUS_LIBS)

# bench-focus runs mikeykmsd, mikeyconfd, mikeyua and mikeyconfctl of the build tree, and SIPp
# with TRANSFER_INITs it makes with mikeyua's MIKEY code (data/sipp/uac-focus-call.xml).
tests_bench_bench_focus_SOURCES = tests/bench/bench-focus.c $(BENCH_UTIL)
tests_bench_bench_focus_CPPFLAGS = $(UA_CPPFLAGS) -DBENCH_BUILDDIR='"$(abs_top_builddir)"' \
	-DBENCH_SRCDIR='"$(abs_top_srcdir)"'
tests_bench_bench_focus_LDADD = $(UA_LIBS)
EXTRA_tests_bench_bench_focus_DEPENDENCIES = src/focus/mikeyconfd$(EXEEXT) src/ua/mikeyua$(EXEEXT) \
	src/kms/mikeykmsd$(EXEEXT) src/ctl/mikeyconfctl$(EXEEXT)

BENCH_RESULTS_DIR = $(top_builddir)/tests/bench/results

bench: $(BENCHMARKS)
	@$(MKDIR_P) $(BENCH_RESULTS_DIR)
	@list='$(BENCHMARKS)'; failed=; \
	if test -z "$$list"; then echo "make bench: no benchmark programs yet (see tests/bench/local.mk)"; exit 0; fi; \
	for p in $$list; do \
	  n=`basename $$p`; \
	  out=$(BENCH_RESULTS_DIR)/$$n.txt; \
	  echo "=== $$n -> $$out"; \
	  { st=0; ./$$p$(EXEEXT) $(BENCH_ARGS) || st=$$?; \
	    test $$st -eq 0 || echo "$$n: exit status $$st"; } 2>&1 | tee $$out; \
	  grep -q "^$$n: exit status [0-9]*$$" $$out && failed="$$failed $$n"; \
	done; \
	if test -n "$$failed"; then echo "make bench: failed:$$failed"; exit 1; fi

clean-bench:
	-rm -rf $(BENCH_RESULTS_DIR)

.PHONY: bench clean-bench
