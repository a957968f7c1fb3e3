/* What the VMM needs to read a paused Perl interpreter straight from guest memory (introspection,
 * `revenant perl`): where the interpreter is and the layout of this perl build's structs.
 *
 * The Perl shim fills one of these at boot and stores its address in the channel's `introspect`
 * field. The layout is text, "name=value\n" per line (offsets, sizes and constants taken with
 * offsetof/sizeof against the perl the shim was built for), so the VMM needs no copy of perl's
 * headers and a field it does not know is simply ignored. Docs/perl-replay.md lists the names.
 */
#ifndef REVENANT_PERL_INTROSPECT_H
#define REVENANT_PERL_INTROSPECT_H

#include <stdint.h>

#define REVENANT_PERL_INTROSPECT_MAGIC 0x49505652L /* "RVPI" little-endian */
#define REVENANT_PERL_INTROSPECT_VERSION 2         /* 2 added evaluating */

struct revenant_perl_introspect {
    uint32_t magic;      /* REVENANT_PERL_INTROSPECT_MAGIC */
    uint32_t version;    /* REVENANT_PERL_INTROSPECT_VERSION */
    uint64_t interp;     /* the recorded PerlInterpreter (my_perl) */
    uint64_t layout;     /* address of the layout text */
    uint64_t layout_len; /* its length in bytes */
    uint64_t evaluating; /* the fast replay (replay_request.c) only: while the shim evaluates --when or
                            --print at statement N, N + 1; else 0. The VMM bounds an evaluation's
                            time by watching it (--timeout); the recording never sets it */
};

#endif
