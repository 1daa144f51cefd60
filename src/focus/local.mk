# src/focus: mikeyconfd, the conference factory and focus. Its modules are a convenience
# library so that unit tests link the same code.
# Add a module: one line in the SOURCES list (and its header in noinst_HEADERS).

noinst_LIBRARIES += src/focus/libfocus.a

src_focus_libfocus_a_SOURCES = \
	src/focus/conference.c \
	src/focus/control.c \
	src/focus/focusconf.c \
	src/focus/jitter.c \
	src/focus/media.c \
	src/focus/medialeg.c \
	src/focus/mediaworker.c \
	src/focus/mixer.c \
	src/focus/resolve.c \
	src/focus/store.c \
	$(NULL)

noinst_HEADERS += \
	src/focus/conference.h \
	src/focus/control.h \
	src/focus/focus.h \
	src/focus/focusconf.h \
	src/focus/jitter.h \
	src/focus/media.h \
	src/focus/medialeg.h \
	src/focus/mediaworker.h \
	src/focus/mixer.h \
	src/focus/resolve.h \
	src/focus/sip.h \
	src/focus/store.h \
	$(NULL)

src_focus_libfocus_a_CPPFLAGS = $(COMMON_CPPFLAGS)

FOCUS_LIBS = src/focus/libfocus.a $(COMMON_LIBS)

# The daemon: main.c (options, signals), focus.c (the daemon object) and sip.c (Sofia-SIP, so
# not in libfocus); the rest is libfocus.
sbin_PROGRAMS += src/focus/mikeyconfd
src_focus_mikeyconfd_SOURCES = src/focus/main.c src/focus/focus.c src/focus/sip.c
src_focus_mikeyconfd_CPPFLAGS = $(COMMON_CPPFLAGS) $(SOFIA_CFLAGS)
src_focus_mikeyconfd_LDADD = src/focus/libfocus.a $(SIPGLIB_LIBS) $(COMMON_LIBS)
