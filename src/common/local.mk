# src/common: what several programs share (config, logging, SQLite, credentials, identity
# comparison, the KMS HTTP client; media: RTP/RTCP, SRTP contexts, G.711, WAV, test tones).
# Add a module: one line in each list below.

noinst_LIBRARIES += src/common/libcommon.a

src_common_libcommon_a_SOURCES = \
	src/common/conf.c \
	src/common/credential.c \
	src/common/db.c \
	src/common/g711.c \
	src/common/kmsclient.c \
	src/common/log.c \
	src/common/rtcp.c \
	src/common/rtp.c \
	src/common/sdpaudio.c \
	src/common/sipuri.c \
	src/common/srtpcrypto.c \
	src/common/srtpctx.c \
	src/common/tone.c \
	src/common/wav.c \
	$(NULL)

noinst_HEADERS += \
	src/common/conf.h \
	src/common/credential.h \
	src/common/db.h \
	src/common/g711.h \
	src/common/kmsclient.h \
	src/common/log.h \
	src/common/rtcp.h \
	src/common/rtp.h \
	src/common/sdpaudio.h \
	src/common/sipuri.h \
	src/common/srtpcrypto.h \
	src/common/srtpctx.h \
	src/common/tone.h \
	src/common/wav.h \
	$(NULL)

src_common_libcommon_a_CPPFLAGS = $(AM_CPPFLAGS) $(GIO_CFLAGS) $(SOUP_CFLAGS) $(SQLITE_CFLAGS) \
	$(SRTP_CFLAGS)

# What a program or test linking libcommon needs (libmikey comes after it).
COMMON_LIBS = src/common/libcommon.a src/mikey/libmikey.a $(SOUP_LIBS) $(SQLITE_LIBS) \
	$(SRTP_LIBS) $(GIO_LIBS) $(MIKEY_LIBS) -lm
COMMON_CPPFLAGS = $(AM_CPPFLAGS) $(GIO_CFLAGS) $(SOUP_CFLAGS) $(SQLITE_CFLAGS) $(SRTP_CFLAGS)

# sipglib: Sofia-SIP's nua on the GLib main loop (mikeyua, mikeyconfd). A library of its own so
# that programs without SIP do not link Sofia: link $(SIPGLIB_LIBS) before $(COMMON_LIBS).
noinst_LIBRARIES += src/common/libsipglib.a
src_common_libsipglib_a_SOURCES = src/common/sipglib.c
noinst_HEADERS += src/common/sipglib.h
src_common_libsipglib_a_CPPFLAGS = $(COMMON_CPPFLAGS) $(SOFIA_CFLAGS)
SIPGLIB_LIBS = src/common/libsipglib.a $(SOFIA_LIBS)
