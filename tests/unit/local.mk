# tests/unit: GLib GTest programs, one per module. Each test-<name> is built from
# tests/unit/test-<name>.c (automake's default source) and linked with the default LDADD
# (src/mikey/libmikey.a + GLib + json-glib + OpenSSL). `make check` runs it with --tap under
# build-aux/tap-driver.sh, so every g_test_add*() case is counted.
#
# Add a test: one line in the list below
#	tests/unit/test-foo \
# A test that needs more than libmikey also gets e.g.
#	tests_unit_test_foo_LDADD = $(LDADD) $(SQLITE_LIBS)
#
# Data files: put them in tests/data/ and open them with
#	g_test_build_filename(G_TEST_DIST, "data", "name.bin", NULL)
# (G_TEST_SRCDIR points at tests/ in the source tree; see AM_TESTS_ENVIRONMENT.)

UNIT_TESTS += \
	tests/unit/test-codec \
	tests/unit/test-focus-conference \
	tests/unit/test-focus-control \
	tests/unit/test-focus-media \
	tests/unit/test-focus-store \
	tests/unit/test-conf \
	tests/unit/test-credential \
	tests/unit/test-kmsclient \
	tests/unit/test-sipuri \
	tests/unit/test-exchange \
	tests/unit/test-kms \
	tests/unit/test-kms-engine \
	tests/unit/test-kms-admin \
	tests/unit/test-kms-store \
	tests/unit/test-transfer \
	tests/unit/test-crypto \
	tests/unit/test-policy \
	tests/unit/test-sdp \
	tests/unit/test-rtp \
	tests/unit/test-g711 \
	tests/unit/test-tone \
	tests/unit/test-wav \
	tests/unit/test-srtpctx \
	tests/unit/test-rtcp \
	tests/unit/test-sdpaudio \
	$(NULL)

EXTRA_DIST += tests/data

tests_unit_test_kms_store_LDADD = $(KMS_LIBS)
tests_unit_test_kms_store_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_unit_test_kms_admin_LDADD = $(KMS_LIBS)
tests_unit_test_kms_admin_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_unit_test_sipuri_LDADD = $(COMMON_LIBS)
tests_unit_test_sipuri_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_unit_test_credential_LDADD = $(COMMON_LIBS)
tests_unit_test_credential_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_unit_test_conf_LDADD = $(COMMON_LIBS)
tests_unit_test_conf_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_unit_test_kmsclient_LDADD = $(COMMON_LIBS)
tests_unit_test_kmsclient_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_unit_test_kms_engine_LDADD = $(KMS_LIBS)
tests_unit_test_kms_engine_CPPFLAGS = $(COMMON_CPPFLAGS)

tests_unit_test_focus_conference_LDADD = $(FOCUS_LIBS)
tests_unit_test_focus_conference_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_unit_test_sdpaudio_LDADD = $(COMMON_LIBS)
tests_unit_test_sdpaudio_CPPFLAGS = $(COMMON_CPPFLAGS)

tests_unit_test_focus_store_LDADD = $(FOCUS_LIBS)
tests_unit_test_focus_store_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_unit_test_focus_control_LDADD = $(FOCUS_LIBS)
tests_unit_test_focus_control_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_unit_test_focus_media_LDADD = $(FOCUS_LIBS)
tests_unit_test_focus_media_CPPFLAGS = $(COMMON_CPPFLAGS)

# Media modules of src/common (rtp, g711, tone, wav, srtpctx, rtcp).
tests_unit_test_rtp_LDADD = $(COMMON_LIBS)
tests_unit_test_rtp_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_unit_test_g711_LDADD = $(COMMON_LIBS)
tests_unit_test_g711_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_unit_test_tone_LDADD = $(COMMON_LIBS)
tests_unit_test_tone_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_unit_test_wav_LDADD = $(COMMON_LIBS)
tests_unit_test_wav_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_unit_test_srtpctx_LDADD = $(COMMON_LIBS)
tests_unit_test_srtpctx_CPPFLAGS = $(COMMON_CPPFLAGS)
tests_unit_test_rtcp_LDADD = $(COMMON_LIBS)
tests_unit_test_rtcp_CPPFLAGS = $(COMMON_CPPFLAGS)
