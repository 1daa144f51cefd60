/* mikeyua's subcommands (mikeyua(1)): ticket, create, join, load and analyse. ua_main() is the
 * whole program; main.c only calls it. Exit status: 0 when the outcome is the expected one, 1 when
 * it is not (a refusal, a failure, a timeout), 2 for bad options or a setup that cannot start. */
#pragma once

#include "media.h"
#include "uaconf.h"

#include "common/credential.h"
#include "common/kmsclient.h"
#include "common/sipglib.h"

int ua_main(int argc, char **argv);

/* create and join: after the focus's BYE the RTP socket stays open and counted this long, so
 * that the report can tell when the last datagram came relative to the BYE (mikeyua(1)). */
#define UA_BYE_LINGER_MS 500

/* What the calls of one run share: the SIP stack, the KMS client, the 20 ms media clock, the
 * WAV samples to send, the address written into SDP. */
typedef struct {
  SipGlib *sip;
  KmsClient *kms;
  UaMediaClock *clock;
  gint16 *wav;
  gsize wav_len;
  char *sdp_addr;
} UaServices;

gboolean ua_services_init(UaServices *sv, const UaOptions *opts, const Credential *cred,
                          GError **error);
void ua_services_clear(UaServices *sv);
