# data/: what `make install` puts beside the programs for running them as services: the
# systemd units of the two daemons, made from data/systemd/*.service.in with this build's
# sbindir and sysconfdir, into $(systemdsystemunitdir), and the sysusers.d file that creates their
# users into $(sysusersdir) (configure --with-systemdsystemunitdir=DIR / --with-sysusersdir=DIR;
# both default under the prefix, "no" leaves them out). The example configurations are in
# man/local.mk, the SIPp scenarios with the tests that use them.

SYSTEMD_UNITS = \
	data/systemd/mikeyconfd.service \
	data/systemd/mikeykmsd.service \
	$(NULL)

if INSTALL_SYSTEMD_UNITS
systemdsystemunit_DATA = $(SYSTEMD_UNITS)
endif
if INSTALL_SYSUSERS
dist_sysusers_DATA = data/sysusers.d/mikeyconf.conf
else
EXTRA_DIST += data/sysusers.d/mikeyconf.conf
endif

# @sbindir@ and @sysconfdir@ become this build's paths, fully expanded (make, not configure,
# expands ${prefix}); a unit that still holds an @...@ after that is an error.
$(SYSTEMD_UNITS): data/systemd/%: $(srcdir)/data/systemd/%.in Makefile
	$(AM_V_GEN)$(MKDIR_P) data/systemd && \
	$(SED) -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' $< >$@.tmp && \
	if grep -n '@[a-z_]*@' $@.tmp; then echo "$@: unsubstituted variable" >&2; rm -f $@.tmp; exit 1; fi && \
	mv $@.tmp $@

EXTRA_DIST += $(SYSTEMD_UNITS:=.in)
CLEANFILES += $(SYSTEMD_UNITS)
