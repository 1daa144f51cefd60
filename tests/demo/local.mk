# tests/demo: ./quickstart demo (demo.sh, the whole story played and checked with the programs of
# a build tree) and ./quickstart run (run.sh, the two daemons in the foreground); common.sh is
# what both share. Not part of make check: the demo is a show for people, the same behaviour is
# asserted case by case in tests/integration.

EXTRA_DIST += \
	tests/demo/common.sh \
	tests/demo/demo.sh \
	tests/demo/run.sh \
	$(NULL)
