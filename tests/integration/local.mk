# tests/integration: the real daemons on loopback ports, driven by test clients built on the
# MIKEY library. GTest programs like tests/unit (run with --tap, every case counted); each finds
# the daemon it runs in the build tree ($G_TEST_BUILDDIR/../src/..., or $MIKEYKMSD), starts it on
# an ephemeral port in a temporary state directory, and kills it and removes the directory at
# the end. `make check` builds the daemons first (check depends on all).
#
# Add a test: one line in the list below (and its _CPPFLAGS/_LDADD). A test of mikeyconfd with
# the real KMS and mikeyua also takes $(FOCUS_HARNESS) in its _SOURCES (focus-harness.h).

INTEGRATION_TESTS = \
	tests/integration/test-faults \
	tests/integration/test-focus \
	tests/integration/test-focus-ctl \
	tests/integration/test-kmsd \
	tests/integration/test-man \
	tests/integration/test-media \
	tests/integration/test-soak \
	$(NULL)

check_PROGRAMS += $(INTEGRATION_TESTS)
TESTS += $(INTEGRATION_TESTS)

tests_integration_test_kmsd_SOURCES = tests/integration/test-kmsd.c $(PROC_HARNESS)
tests_integration_test_kmsd_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_integration_test_kmsd_LDADD = $(COMMON_LIBS)

# test-focus-ctl runs the real mikeyconfctl against a control server of its own (libfocus).
tests_integration_test_focus_ctl_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_integration_test_focus_ctl_LDADD = $(FOCUS_LIBS)
EXTRA_tests_integration_test_focus_ctl_DEPENDENCIES = src/ctl/mikeyconfctl$(EXEEXT)

# The KMS, mikeyconfd, mikeyua and mikeyconfctl as child processes, for test-focus and test-media.
PROC_HARNESS = tests/integration/proc-harness.c tests/integration/proc-harness.h
FOCUS_HARNESS = tests/integration/focus-harness.c tests/integration/focus-harness.h $(PROC_HARNESS)
FOCUS_HARNESS_BINS = src/focus/mikeyconfd$(EXEEXT) src/ua/mikeyua$(EXEEXT) \
	src/kms/mikeykmsd$(EXEEXT) src/ctl/mikeyconfctl$(EXEEXT)

# test-focus runs the real mikeyconfd, mikeykmsd, mikeyua, mikeyconfctl (and SIPp) on loopback.
tests_integration_test_focus_SOURCES = tests/integration/test-focus.c $(FOCUS_HARNESS)
tests_integration_test_focus_CPPFLAGS = $(UA_CPPFLAGS)
tests_integration_test_focus_LDADD = $(UA_LIBS)
EXTRA_tests_integration_test_focus_DEPENDENCIES = $(FOCUS_HARNESS_BINS)

# test-media: issue 6's media end to end (tones through the focus, removal, tampered key, send
# loss, random datagrams), with the same real processes.
tests_integration_test_media_SOURCES = tests/integration/test-media.c $(FOCUS_HARNESS)
tests_integration_test_media_CPPFLAGS = $(UA_CPPFLAGS)
tests_integration_test_media_LDADD = $(UA_LIBS)
EXTRA_tests_integration_test_media_DEPENDENCIES = $(FOCUS_HARNESS_BINS)
EXTRA_DIST += data/sipp/uac-options.xml data/sipp/uac-invite-no-sdp.xml \
	data/sipp/uac-garbage-key-mgmt.xml data/sipp/uac-focus-call.xml

# test-man compares --help of the four programs (and their subcommands) with man/, and the option
# tables of mikeykmsd (libkms) and mikeyconfd (libfocus) with the .conf(5) pages and data/*.example.
tests_integration_test_man_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_integration_test_man_LDADD = src/kms/libkms.a $(FOCUS_LIBS)
EXTRA_tests_integration_test_man_DEPENDENCIES = src/kms/mikeykmsd$(EXEEXT) \
	src/focus/mikeyconfd$(EXEEXT) src/ctl/mikeyconfctl$(EXEEXT) src/ua/mikeyua$(EXEEXT)

# test-faults: issue 8's fault injection (the KMS or mikeyconfd killed in a burst, SQLite write
# failure, a wrong KMS certificate) and abuse (SIPp floods, malformed SIP, thousands of pending
# resolves), with the same real processes.
tests_integration_test_faults_SOURCES = tests/integration/test-faults.c $(FOCUS_HARNESS)
tests_integration_test_faults_CPPFLAGS = $(UA_CPPFLAGS)
tests_integration_test_faults_LDADD = $(UA_LIBS)
EXTRA_tests_integration_test_faults_DEPENDENCIES = $(FOCUS_HARNESS_BINS)
EXTRA_DIST += data/sipp/uac-invite-key-mgmt.xml

# test-soak: conference churn (creations, joins, owner updates, removals, leaves, media) for
# SOAK_SECONDS (default 75), then RSS and open files of both daemons against their level after
# the warm-up, a clean exit (LeakSanitizer in sanitizer builds), and the key hygiene search
# (no PSK, MPK, TGK or SRTP key in any log, database or mikeyconfctl output).
# `make soak` runs it for 10 minutes (make soak SOAK_SECONDS=N for another length).
tests_integration_test_soak_SOURCES = tests/integration/test-soak.c $(FOCUS_HARNESS)
tests_integration_test_soak_CPPFLAGS = $(UA_CPPFLAGS)
tests_integration_test_soak_LDADD = $(UA_LIBS)
EXTRA_tests_integration_test_soak_DEPENDENCIES = $(FOCUS_HARNESS_BINS)

soak:
	@s='$(SOAK_SECONDS)'; s=$${s:-600}; \
	SOAK_SECONDS=$$s TEST_TIMEOUT=`expr $$s + 1200` \
	  $(MAKE) $(AM_MAKEFLAGS) check TESTS=tests/integration/test-soak

.PHONY: soak
