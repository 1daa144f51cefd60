# man/: the roff man pages, installed by `make install` (and shipped by make dist).
# Add a page: one line in the list below; section by suffix (.8 daemons, .5 files, .1 tools).
# Every option and subcommand of a program is in its page, the same as its --help
# (tests/integration/test-man checks all four, and the .conf(5) keys).

dist_man_MANS += \
	man/mikeyconfctl.8 \
	man/mikeyconfd.8 \
	man/mikeyconfd.conf.5 \
	man/mikeykmsd.8 \
	man/mikeykmsd.conf.5 \
	man/mikeyua.1 \
	$(NULL)

# Example configuration files, installed as $(sysconfdir)/mikeyconf/NAME.conf.example (never
# over a real NAME.conf). Add one: a line in the list below.
mikeyconfdir = $(sysconfdir)/mikeyconf
dist_mikeyconf_DATA = \
	data/mikeyconfd.conf.example \
	data/mikeykmsd.conf.example \
	$(NULL)
