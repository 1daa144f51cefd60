# src/focus: mikeyconfd, the conference factory and focus. Its modules are a convenience
# library so that unit tests link the same code.
# Add a module: one line in the SOURCES list (and its header in noinst_HEADERS).

noinst_LIBRARIES += src/focus/libfocus.a

src_focus_libfocus_a_SOURCES = \
	src/focus/conference.c \
	src/focus/control.c \
	src/focus/store.c \
	$(NULL)

noinst_HEADERS += \
	src/focus/conference.h \
	src/focus/control.h \
	src/focus/store.h \
	$(NULL)

src_focus_libfocus_a_CPPFLAGS = $(COMMON_CPPFLAGS)

FOCUS_LIBS = src/focus/libfocus.a $(COMMON_LIBS)
