# src/kms: mikeykmsd, the Key Management Server. The daemon's modules are a convenience
# library so that unit tests link the same code; main.c is the program.
# Add a module: one line in the SOURCES list (and its header in noinst_HEADERS).

noinst_LIBRARIES += src/kms/libkms.a

src_kms_libkms_a_SOURCES = \
	src/kms/admin.c \
	src/kms/ca.c \
	src/kms/kmsconf.c \
	src/kms/store.c \
	src/kms/engine.c \
	src/kms/metrics.c \
	$(NULL)

noinst_HEADERS += \
	src/kms/admin.h \
	src/kms/ca.h \
	src/kms/engine.h \
	src/kms/kmsconf.h \
	src/kms/metrics.h \
	src/kms/store.h \
	$(NULL)

src_kms_libkms_a_CPPFLAGS = $(COMMON_CPPFLAGS)

KMS_LIBS = src/kms/libkms.a $(COMMON_LIBS)

# The program: main.c (options, subcommands, signals) and server.c (the HTTP(S) endpoint).
sbin_PROGRAMS += src/kms/mikeykmsd
src_kms_mikeykmsd_SOURCES = src/kms/main.c src/kms/server.c
noinst_HEADERS += src/kms/server.h
src_kms_mikeykmsd_CPPFLAGS = $(COMMON_CPPFLAGS)
src_kms_mikeykmsd_LDADD = $(KMS_LIBS)
