/* Where a program's `syscall` instructions can be rewritten into a jump to a trampoline (the
 * trapless syscall path, Docs/machine.md "Trapless syscalls"). Decoding is Capstone's; this file
 * only reads its answers. Only code that branches into a function can land inside it: the
 * function itself, its neighbours (short jumps), and its cold part (reached by its own jumps out);
 * all three are decoded, nothing else is assumed to jump into a function's middle. The VMM
 * (Sources/Machine/SyscallRewriter.swift) owns everything else: when a site is looked at, where
 * its trampoline goes, and the patch. */
#ifndef REVENANT_SITES_H
#define REVENANT_SITES_H

#include <stddef.h>
#include <stdint.h>

/* Why a site keeps trapping (or REVENANT_SITE_OK). The VMM counts them for `-v`. */
enum revenant_site_verdict {
    REVENANT_SITE_OK = 0,
    /* The function does not decode as far as the site, or the site is no `syscall` there. */
    REVENANT_SITE_NOT_DECODED = 1,
    /* The function jumps through a register or memory (a jump table): a target inside the patch
     * cannot be ruled out. */
    REVENANT_SITE_INDIRECT_JUMP = 2,
    /* The instructions just before the site cannot run elsewhere: a branch, a rip-relative
     * operand, or fewer than 3 bytes of plain instructions. */
    REVENANT_SITE_UNMOVABLE = 3,
    /* Capstone could not be opened. */
    REVENANT_SITE_NO_DECODER = 4,
    /* A branch of the function lands inside the bytes the patch would cover. */
    REVENANT_SITE_BRANCH_TARGET = 5,
};

/* Decode the function [code, code+len) that runs at guest address `start` and plan the site: the
 * `syscall` at guest address `site`. On REVENANT_SITE_OK, *displaced is how many bytes of whole
 * instructions just before the site move into the trampoline (3 to 15): the patch covers
 * [site - *displaced, site + 2). Plain instructions move; so does a conditional jump (relocated).
 * `outward` receives the targets of the function's jumps that leave it (at most *noutward of them;
 * *noutward then says how many): its cold part, which may jump back into the patch, is among them,
 * for the caller to check with revenant_site_branches_into. */
int revenant_site_plan(const uint8_t *code, size_t len, uint64_t start, uint64_t site, unsigned *displaced,
                       uint64_t *outward, size_t *noutward);

/* The `length` bytes of instructions at guest address `from`, relocated to run at `at`: plain ones
 * as they are, a conditional jump as jcc rel32 to its original target. Returns how many bytes it
 * wrote to out (at most `max`), or 0 when it cannot. */
size_t revenant_site_relocate(const uint8_t *code, unsigned length, uint64_t from, uint64_t at, uint8_t *out,
                              size_t max);

/* Whether the function [code, code+len) at guest address `start` has a direct branch landing in
 * (lo, hi], or does not decode: a neighbour's short jump, or a cold part's jump back, could land
 * inside a patch. */
int revenant_site_branches_into(const uint8_t *code, size_t len, uint64_t start, uint64_t lo, uint64_t hi);

#endif
