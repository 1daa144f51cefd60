# src/ctl: mikeyconfctl, the operator CLI of a running mikeyconfd. A client of the control
# socket only: it needs GIO and json-glib, and takes the protocol constants (default socket
# path, page size) from src/focus/control.h without linking the focus library.

sbin_PROGRAMS += src/ctl/mikeyconfctl
src_ctl_mikeyconfctl_SOURCES = src/ctl/main.c
src_ctl_mikeyconfctl_CPPFLAGS = $(COMMON_CPPFLAGS)
src_ctl_mikeyconfctl_LDADD = $(GIO_LIBS) $(JSON_LIBS) $(GLIB_LIBS)
