/* The process's channel as the shims share it (GuestAgents/channel/revenant_channel.c). */
#ifndef REVENANT_CHANNEL_OWNER_H
#define REVENANT_CHANNEL_OWNER_H

#include <stddef.h>
#include <stdint.h>

#include "revenant_channel.h"

enum { REVENANT_CHANNEL_OFF = 0, REVENANT_CHANNEL_VM = 1, REVENANT_CHANNEL_FILE = 2 };

struct revenant_channel_owner {
    uint32_t version;              /* REVENANT_CHANNEL_VERSION once set up */
    int mode;                      /* REVENANT_CHANNEL_OFF / _VM / _FILE */
    struct revenant_channel *ch;   /* the buffer: append at ch->data + ch->used when it fits */
    uint8_t *(*reserve)(size_t n); /* room for one record of n bytes (flushing as needed);
                                      NULL when off or out of memory */
    void (*commit)(size_t n);      /* the record written at reserve's pointer is complete */
    void (*flush)(void);           /* hand the buffer over (the shim calls it at exit) */
    void (*off)(void);             /* stop recording */
    void (*eval)(void);            /* the Perl shim's evaluator, run when a FLUSH answers
                                      REVENANT_CHANNEL_EVAL_REQUEST (a clone only) */
    void (*forked)(void);          /* in a forked child (pthread_atfork): go on in a VM, else stop */
    int quiet;                     /* REGISTER answered REVENANT_CHANNEL_QUIET: the VMM discards what
                                      it is handed, statements may be left out */
};

/* The process's channel: found (another shim owns it) or created (this one does). Never NULL;
 * mode says whether it records. Removes REVENANT_SHIM_LOG from the environment. */
struct revenant_channel_owner *revenant_channel_open(void);

#endif
