/* The adaptive jitter buffer of one inbound leg at the focus (profile 8): G.711 frames of 20 ms
 * kept by extended sequence number, one frame taken per mix tick, packet-loss concealment,
 * bounded delay.
 *
 * How it adapts. The mix clock takes one frame per tick. A frame that is missing while later
 * ones are buffered is a loss: it is concealed and skipped. A tick that finds the buffer empty
 * (nothing at or after the next frame) is an underrun: the frame is concealed but the play
 * position does not move, so the delay grows by one frame; a packet that arrives after its frame
 * was played does the same at the next tick (it is counted late and dropped). The delay shrinks
 * by one frame (one buffered frame dropped) when the buffer has held at least
 * FOCUS_JITTER_SHRINK_LEVEL frames at every tick for FOCUS_JITTER_SHRINK_TICKS ticks without an
 * underrun or a late packet. It never exceeds FOCUS_JITTER_MAX_FRAMES frames (200 ms): older
 * frames are dropped (down to half the bound) when a newer one would overrun it. The first frame of
 * a stream is held FOCUS_JITTER_INITIAL_HOLD ticks (40 ms of delay at the start).
 *
 * Sequence numbers are extended across the 16-bit wrap by their distance to the highest one
 * seen (the SRTP ROC follows the same rule); a new SSRC, or a jump of more than
 * FOCUS_JITTER_MAX_JUMP frames either way, restarts the buffer.
 *
 * Concealment repeats the last frame, at full level for the first missing frame and fading over
 * the next two, then gives silence (60 ms in all, as G.711 Appendix I does). A 20 ms frame holds
 * whole periods of every multiple of 50 Hz, so test tones repeat without a click.
 *
 * Pure: no clock, no I/O, no allocation; one thread at a time. */
#pragma once

#include <glib.h>

#define FOCUS_JITTER_FRAME 160     /* samples (and G.711 bytes) in 20 ms at 8 kHz */
#define FOCUS_JITTER_SLOTS 16      /* ring size, a power of two, > FOCUS_JITTER_MAX_FRAMES */
#define FOCUS_JITTER_MAX_FRAMES 10 /* 200 ms: the delay bound */
#define FOCUS_JITTER_INITIAL_HOLD 1
#define FOCUS_JITTER_SHRINK_LEVEL 3   /* frames held at every tick that allow a shrink */
#define FOCUS_JITTER_SHRINK_TICKS 250 /* 5 s */
#define FOCUS_JITTER_MAX_JUMP 500     /* 10 s */
#define FOCUS_JITTER_CONCEAL_FRAMES 3

typedef enum {
  FOCUS_JITTER_PUT_OK = 0,
  FOCUS_JITTER_PUT_RESTARTED, /* stored, after a restart (first packet, new SSRC, big jump) */
  FOCUS_JITTER_PUT_LATE,      /* its frame has been played or concealed: dropped */
  FOCUS_JITTER_PUT_DUPLICATE, /* the frame is already buffered: dropped */
  FOCUS_JITTER_PUT_BAD,       /* not a 160-byte G.711 frame (PT 0 or 8): dropped */
} FocusJitterPut;

typedef enum {
  FOCUS_JITTER_GET_NONE = 0, /* nothing to play: silence, and the leg is not talking */
  FOCUS_JITTER_GET_FRAME,    /* a received frame */
  FOCUS_JITTER_GET_CONCEALED /* a concealed frame (loss or underrun) */
} FocusJitterGet;

typedef struct {
  guint64 ext; /* extended sequence number of the frame held, valid when filled */
  gboolean filled;
  guint8 pt;
  guint8 data[FOCUS_JITTER_FRAME];
} FocusJitterSlot;

typedef struct {
  guint64 packets;    /* frames stored */
  guint64 played;     /* received frames played */
  guint64 concealed;  /* concealed frames (losses, underruns) */
  guint64 late;       /* packets that came after their frame was played */
  guint64 duplicates; /* packets whose frame was already buffered */
  guint64 dropped;    /* buffered frames dropped: delay bound or shrink */
  guint64 underruns;  /* ticks that found the buffer empty while the stream was playing */
  guint64 restarts;   /* new SSRC or large jumps */
  guint64 bad;        /* wrong payload type or length */
} FocusJitterStats;

/* The few members every packet and tick read come first (one cache line), the frames after. */
typedef struct {
  gboolean started;
  guint32 ssrc;
  guint64 play;    /* extended sequence number of the next frame to play */
  guint64 highest; /* highest extended sequence number stored */
  guint hold;      /* ticks of silence still to give before the first frame */
  guint conceal_run;
  gboolean grow; /* a late packet asks for one more frame of delay */
  guint min_level;
  guint calm_ticks; /* ticks since the last underrun, late packet or shrink */
  gboolean have_last;
  FocusJitterStats stats;
  FocusJitterSlot slot[FOCUS_JITTER_SLOTS];
  gint16 last[FOCUS_JITTER_FRAME];
} FocusJitter;

void focus_jitter_init(FocusJitter *jb);
/* Forgets the stream (keeps the counters). */
void focus_jitter_reset(FocusJitter *jb);
/* Stores one packet's payload (pt 0 PCMU or 8 PCMA, len 160). */
FocusJitterPut focus_jitter_put(FocusJitter *jb, guint32 ssrc, guint16 seq, guint8 pt,
                                const guint8 *payload, gsize len);
/* The frame for this tick, decoded into out (silence for FOCUS_JITTER_GET_NONE). */
FocusJitterGet focus_jitter_get(FocusJitter *jb, gint16 out[FOCUS_JITTER_FRAME]);
/* Frames buffered ahead of the play position, counting holes (the current delay in frames). */
guint focus_jitter_level(const FocusJitter *jb);
/* TRUE while there is something to play or conceal (the stream has not run dry). */
gboolean focus_jitter_busy(const FocusJitter *jb);
