# src/ua: mikeyua, the MIKEY-TICKET SIP user agent. Its modules are a convenience library so
# that unit tests link the same code; main.c is the program. The tests of this directory are
# listed here too (unit tests in tests/unit/test-ua-*.c, the integration test with the real KMS
# and SIPp in tests/integration/test-ua.c).
# Add a module: one line in the SOURCES list (and its header in noinst_HEADERS).

noinst_LIBRARIES += src/ua/libua.a

src_ua_libua_a_SOURCES = \
	src/ua/uaconf.c \
	src/ua/offer.c \
	src/ua/media.c \
	src/ua/call.c \
	src/ua/report.c \
	src/ua/load.c \
	src/ua/ua.c \
	$(NULL)

noinst_HEADERS += \
	src/ua/uaconf.h \
	src/ua/offer.h \
	src/ua/media.h \
	src/ua/call.h \
	src/ua/report.h \
	src/ua/load.h \
	src/ua/ua.h \
	$(NULL)

UA_CPPFLAGS = $(COMMON_CPPFLAGS) $(SOFIA_CFLAGS)
src_ua_libua_a_CPPFLAGS = $(UA_CPPFLAGS)
UA_LIBS = src/ua/libua.a $(SIPGLIB_LIBS) $(COMMON_LIBS)

bin_PROGRAMS += src/ua/mikeyua
src_ua_mikeyua_SOURCES = src/ua/main.c
src_ua_mikeyua_CPPFLAGS = $(UA_CPPFLAGS)
src_ua_mikeyua_LDADD = $(UA_LIBS)

UNIT_TESTS += \
	tests/unit/test-ua-options \
	tests/unit/test-ua-offer \
	tests/unit/test-ua-report \
	$(NULL)
tests_unit_test_ua_options_CPPFLAGS = $(UA_CPPFLAGS)
tests_unit_test_ua_options_LDADD = $(UA_LIBS)
tests_unit_test_ua_offer_CPPFLAGS = $(UA_CPPFLAGS)
tests_unit_test_ua_offer_LDADD = $(UA_LIBS)
tests_unit_test_ua_report_CPPFLAGS = $(UA_CPPFLAGS)
tests_unit_test_ua_report_LDADD = $(UA_LIBS)

check_PROGRAMS += tests/integration/test-ua
TESTS += tests/integration/test-ua
tests_integration_test_ua_SOURCES = tests/integration/test-ua.c $(PROC_HARNESS)
tests_integration_test_ua_CPPFLAGS = $(UA_CPPFLAGS)
tests_integration_test_ua_LDADD = $(UA_LIBS)

EXTRA_DIST += \
	data/sipp/uas-488.xml \
	data/sipp/uas-403.xml \
	data/sipp/uas-garbage-key-mgmt.xml \
	$(NULL)
