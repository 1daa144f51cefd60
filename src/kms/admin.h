/* mikeykmsd's admin subcommands (issue 3, man mikeykmsd(8)): they work on the state directory
 * directly and are safe while the daemon runs (SQLite WAL; the daemon reads users and ticket
 * keys from the database on every request).
 *
 *   init [--name NAME]...                 state directory, KEK, first TPK, local CA + server cert
 *   user add URI [--may-create] [--resolves-for PATTERN]... [--out FILE] [--force]
 *   user list [--json]
 *   user show URI [--json]
 *   user set URI [--may-create|--no-may-create] [--resolves-for PATTERN]... [--no-resolves-for]
 *   user disable URI | user enable URI | user remove URI
 *   tpk rotate | tpk list [--json]
 *   tickets [--user URI] [--limit N] [--json]
 */
#pragma once

#include "kmsconf.h"

/* argv[0] is the subcommand word ("init", "user", "tpk", "tickets"), the rest its words and
 * options, i.e. what is left after the global options were parsed and the program name
 * dropped. cfg has been through kms_config_finish() (if public_url is NULL it is called here).
 * Prints results on stdout and "mikeykmsd: ..." messages on stderr. Returns the exit status:
 * 0 done, 1 failed (unknown user, duplicate, state directory problems, ...), 2 usage error. */
int kms_admin_run(int argc, char **argv, KmsConfig *cfg);

/* TRUE if word names an admin subcommand (so main.c can tell them from "serve"). */
gboolean kms_admin_is_command(const char *word);
