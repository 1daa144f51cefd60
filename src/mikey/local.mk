# src/mikey: the MIKEY library (pure: no sockets, no main loop, no globals).
# Add a module: one line  <TAB>src/mikey/foo.c \  in the SOURCES list (sorted), and its
# header the same way in noinst_HEADERS. The lists end in $(NULL), so no line is "last".

noinst_LIBRARIES += src/mikey/libmikey.a

src_mikey_libmikey_a_SOURCES = \
	src/mikey/cipher.c \
	src/mikey/encode.c \
	src/mikey/error.c \
	src/mikey/kdf.c \
	src/mikey/keydata.c \
	src/mikey/kms.c \
	src/mikey/mac.c \
	src/mikey/msg.c \
	src/mikey/ntp.c \
	src/mikey/parse.c \
	src/mikey/policy.c \
	src/mikey/policyspec.c \
	src/mikey/prf.c \
	src/mikey/replay.c \
	src/mikey/request.c \
	src/mikey/resolve.c \
	src/mikey/sdp.c \
	src/mikey/secret.c \
	src/mikey/suite.c \
	src/mikey/ticket.c \
	src/mikey/transfer.c \
	$(NULL)

noinst_HEADERS += \
	src/mikey/cipher.h \
	src/mikey/error.h \
	src/mikey/exchange.h \
	src/mikey/kdf.h \
	src/mikey/keydata.h \
	src/mikey/mac.h \
	src/mikey/msg.h \
	src/mikey/ntp.h \
	src/mikey/policy.h \
	src/mikey/prf.h \
	src/mikey/replay.h \
	src/mikey/sdp.h \
	src/mikey/secret.h \
	src/mikey/types.h \
	$(NULL)

# Compiled with AM_CPPFLAGS, which carries MIKEY_CFLAGS (GLIB_CFLAGS OPENSSL_CFLAGS JSON_CFLAGS);
# users link it with: src/mikey/libmikey.a $(MIKEY_LIBS)  (the default LDADD).
