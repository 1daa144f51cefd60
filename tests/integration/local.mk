# tests/integration: the real daemons on loopback ports, driven by test clients built on the
# MIKEY library. GTest programs like tests/unit (run with --tap, every case counted); each finds
# the daemon it runs in the build tree ($G_TEST_BUILDDIR/../src/..., or $MIKEYKMSD), starts it on
# an ephemeral port in a temporary state directory, and kills it and removes the directory at
# the end. `make check` builds the daemons first (check depends on all).
#
# Add a test: one line in the list below (and its _CPPFLAGS/_LDADD).

INTEGRATION_TESTS = \
	tests/integration/test-focus \
	tests/integration/test-focus-ctl \
	tests/integration/test-kmsd \
	$(NULL)

check_PROGRAMS += $(INTEGRATION_TESTS)
TESTS += $(INTEGRATION_TESTS)

tests_integration_test_kmsd_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_integration_test_kmsd_LDADD = $(COMMON_LIBS)

# test-focus-ctl runs the real mikeyconfctl against a control server of its own (libfocus).
tests_integration_test_focus_ctl_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_integration_test_focus_ctl_LDADD = $(FOCUS_LIBS)
EXTRA_tests_integration_test_focus_ctl_DEPENDENCIES = src/ctl/mikeyconfctl$(EXEEXT)

# test-focus runs the real mikeyconfd, mikeykmsd, mikeyua, mikeyconfctl (and SIPp) on loopback.
tests_integration_test_focus_CPPFLAGS = $(UA_CPPFLAGS)
tests_integration_test_focus_LDADD = $(UA_LIBS)
EXTRA_tests_integration_test_focus_DEPENDENCIES = src/focus/mikeyconfd$(EXEEXT) \
	src/ua/mikeyua$(EXEEXT) src/kms/mikeykmsd$(EXEEXT) src/ctl/mikeyconfctl$(EXEEXT)
EXTRA_DIST += data/sipp/uac-options.xml data/sipp/uac-invite-no-sdp.xml \
	data/sipp/uac-garbage-key-mgmt.xml data/sipp/uac-focus-call.xml
