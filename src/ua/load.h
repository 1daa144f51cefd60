/* mikeyua load: many conferences and participants in one process, one main loop, one SIP stack
 * and one 20 ms media clock (no thread per participant). Each conference is created by the
 * --credential user (its creation call is a leg too); each participant is a real SIP call with
 * its own ticket naming the conference URI, and real SRTP media. Prints the setup latency
 * (p50/p90/p99, from the ticket request to the verified 200 OK, and INVITE to 200), failures by
 * SIP status or step, and media statistics. */
#pragma once

#include "uaconf.h"

#include "common/credential.h"

/* Loads the participants' credentials: every *.cred of a directory (sorted by name), or the
 * files a pattern with %d names (1, 2, ... until one is missing; at least one). */
GPtrArray *ua_load_credentials(const char *dir_or_pattern, GError **error);

/* The exit status (0 when every call was set up and ended as it should). */
int ua_load_run(const UaOptions *opts, const Credential *creator);
