/* The decoding half of the syscall rewriter (revenant_sites.h). */
#define _GNU_SOURCE /* memmem */
#include "revenant_sites.h"

#include <capstone/capstone.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static csh decoder;
static int decoder_ok;
static pthread_once_t decoder_once = PTHREAD_ONCE_INIT;

static void open_decoder(void)
{
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &decoder) != CS_ERR_OK) return;
    cs_option(decoder, CS_OPT_DETAIL, CS_OPT_ON);
    decoder_ok = 1;
}

/* A buffer for one decoded instruction, Capstone opened on first use; NULL when it cannot be. */
static cs_insn *new_insn(void)
{
    pthread_once(&decoder_once, open_decoder);
    return decoder_ok ? cs_malloc(decoder) : NULL;
}

static int in_group(const cs_insn *insn, uint8_t group)
{
    for (uint8_t i = 0; i < insn->detail->groups_count; i++)
        if (insn->detail->groups[i] == group) return 1;
    return 0;
}

/* A conditional jump with a rel8 or rel32 target (not jrcxz or loop, which have no rel32 form). */
static int conditional_jump(const cs_insn *insn)
{
    const cs_x86 *x = &insn->detail->x86;
    if (!in_group(insn, CS_GRP_JUMP) || insn->id == X86_INS_JMP || insn->id == X86_INS_JRCXZ
        || insn->id == X86_INS_JECXZ || insn->id == X86_INS_LOOP || insn->id == X86_INS_LOOPE
        || insn->id == X86_INS_LOOPNE)
        return 0;
    return x->op_count == 1 && x->operands[0].type == X86_OP_IMM;
}

/* An instruction that computes the same when it runs at another address, and falls through or
 * (a conditional jump, re-encoded with a rel32) branches where it did. */
static int movable(const cs_insn *insn)
{
    if (conditional_jump(insn)) return 1;
    if (in_group(insn, CS_GRP_JUMP) || in_group(insn, CS_GRP_CALL) || in_group(insn, CS_GRP_RET)
        || in_group(insn, CS_GRP_INT) || in_group(insn, CS_GRP_IRET) || in_group(insn, CS_GRP_BRANCH_RELATIVE)
        || in_group(insn, CS_GRP_PRIVILEGE))
        return 0;
    const cs_x86 *x = &insn->detail->x86;
    for (uint8_t i = 0; i < x->op_count; i++) {
        const cs_x86_op *op = &x->operands[i];
        if (op->type == X86_OP_MEM && (op->mem.base == X86_REG_RIP || op->mem.index == X86_REG_RIP)) return 0;
    }
    return insn->id != X86_INS_SYSCALL && insn->id != X86_INS_SYSENTER;
}

static int indirect_jump(const cs_insn *insn)
{
    if (!in_group(insn, CS_GRP_JUMP)) return 0;
    const cs_x86 *x = &insn->detail->x86;
    return x->op_count == 0 || x->operands[0].type != X86_OP_IMM;
}

/* The target of a direct jump or call, or 0. */
static uint64_t direct_target(const cs_insn *insn)
{
    if (!in_group(insn, CS_GRP_JUMP) && !in_group(insn, CS_GRP_CALL)) return 0;
    const cs_x86 *x = &insn->detail->x86;
    return x->op_count == 1 && x->operands[0].type == X86_OP_IMM ? (uint64_t)x->operands[0].imm : 0;
}

int revenant_site_plan(const uint8_t *code, size_t len, uint64_t start, uint64_t site, unsigned *displaced,
                       uint64_t *outward, size_t *noutward)
{
    cs_insn *insn = new_insn();
    if (!insn) return REVENANT_SITE_NO_DECODER;
    /* The last four instructions before the site: address and size, and whether they move. */
    uint64_t prev_addr[4] = { 0 };
    uint16_t prev_size[4] = { 0 };
    int prev_movable[4] = { 0 };
    /* The function's own branches that land within 16 bytes before the site (exact: decoded). */
    uint64_t near[64];
    size_t nnear = 0;
    int found = 0, indirect = 0, overflow = 0;
    size_t outs = 0;
    const uint8_t *p = code;
    size_t left = len;
    uint64_t addr = start;
    while (left > 0) {
        if (!cs_disasm_iter(decoder, &p, &left, &addr, insn)) break;
        if (indirect_jump(insn)) indirect = 1;
        uint64_t t = direct_target(insn);
        /* A jump out of the function (to its cold part, or a tail call): the caller checks what
         * lies there, since a cold part jumps back in. Calls return after themselves. */
        if (t && (t < start || t >= start + len) && in_group(insn, CS_GRP_JUMP)) {
            size_t k = 0;
            while (k < outs && outward[k] != t) k++;
            if (k == outs && outs < *noutward)
                outward[outs++] = t;
            else if (k == outs)
                overflow = 1;
        }
        if (t && t <= site && t + 16 > site) {
            if (nnear < sizeof near / sizeof near[0])
                near[nnear++] = t;
            else
                overflow = 1;
        }
        if (found) continue;
        if (insn->address == site) {
            if (insn->id != X86_INS_SYSCALL) break;
            found = 1;
            continue;
        }
        if (insn->address > site) break;
        memmove(prev_addr + 1, prev_addr, 3 * sizeof prev_addr[0]);
        memmove(prev_size + 1, prev_size, 3 * sizeof prev_size[0]);
        memmove(prev_movable + 1, prev_movable, 3 * sizeof prev_movable[0]);
        prev_addr[0] = insn->address;
        prev_size[0] = insn->size;
        prev_movable[0] = movable(insn);
    }
    int decoded_all = left == 0;
    cs_free(insn, 1);
    if (!found || !decoded_all) return REVENANT_SITE_NOT_DECODED;
    if (indirect) return REVENANT_SITE_INDIRECT_JUMP;
    unsigned bytes = 0;
    for (int i = 0; i < 4 && bytes < 3; i++) {
        if (prev_size[i] == 0 || !prev_movable[i] || prev_addr[i] + prev_size[i] != site - bytes)
            return REVENANT_SITE_UNMOVABLE;
        bytes += prev_size[i];
    }
    if (bytes < 3 || bytes > 15) return REVENANT_SITE_UNMOVABLE;
    if (overflow) return REVENANT_SITE_BRANCH_TARGET;
    *noutward = outs;
    for (size_t i = 0; i < nnear; i++)
        if (near[i] > site - bytes && near[i] <= site) return REVENANT_SITE_BRANCH_TARGET;
    *displaced = bytes;
    return REVENANT_SITE_OK;
}

size_t revenant_site_relocate(const uint8_t *code, unsigned length, uint64_t from, uint64_t at, uint8_t *out,
                              size_t max)
{
    cs_insn *insn = new_insn();
    if (!insn) return 0;
    size_t n = 0, left = length;
    const uint8_t *p = code;
    uint64_t addr = from;
    while (left > 0 && cs_disasm_iter(decoder, &p, &left, &addr, insn)) {
        if (conditional_jump(insn)) {
            /* jcc rel32: 0f 80+cc. The condition code is the low nibble of the rel8 (7x) or rel32 (0f 8x)
             * opcode. */
            uint8_t cc = (insn->bytes[0] == 0x0f ? insn->bytes[1] : insn->bytes[0]) & 0x0f;
            int64_t rel = (int64_t)(insn->detail->x86.operands[0].imm - (int64_t)(at + n + 6));
            if (n + 6 > max || rel != (int32_t)rel || (insn->bytes[0] != 0x0f && (insn->bytes[0] & 0xf0) != 0x70)) {
                n = 0;
                break;
            }
            int32_t r = (int32_t)rel;
            out[n] = 0x0f;
            out[n + 1] = (uint8_t)(0x80 | cc);
            memcpy(out + n + 2, &r, 4);
            n += 6;
        } else {
            if (n + insn->size > max) {
                n = 0;
                break;
            }
            memcpy(out + n, insn->bytes, insn->size);
            n += insn->size;
        }
    }
    if (left != 0) n = 0;
    cs_free(insn, 1);
    return n;
}

/* Whether the direct branch whose displacement of `size` bytes ends at code[end] (the next
 * instruction's address is start + end) lands in (lo, hi]; one whose bytes run past the buffer
 * might. */
static int lands_in(const uint8_t *code, size_t len, size_t end, unsigned size, uint64_t start, uint64_t lo,
                    uint64_t hi)
{
    if (end > len) return 1;
    int64_t rel;
    if (size == 1) {
        rel = (int8_t)code[end - 1];
    } else if (size == 2) {
        int16_t r;
        memcpy(&r, code + end - 2, 2);
        rel = r;
    } else {
        int32_t r;
        memcpy(&r, code + end - 4, 4);
        rel = r;
    }
    uint64_t t = start + end + (uint64_t)rel;
    return t > lo && t <= hi;
}

/* Whether any byte offset of [code, code+len) starts a direct branch landing in (lo, hi]: jmp,
 * jcc, loop and jrcxz with rel8; jmp, call, jcc and xbegin with rel32 or (an operand-size prefix)
 * rel16. Every instruction decoding finds is at one of these offsets, so a clean scan rules a
 * branch into the patch out without decoding, which costs ~300 ns an instruction: a neighbour of
 * ld.so's first site took 1.4 ms. */
static int may_branch_into(const uint8_t *code, size_t len, uint64_t start, uint64_t lo, uint64_t hi)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t b = code[i], next = i + 1 < len ? code[i + 1] : 0;
        if ((b == 0xeb || (b & 0xf0) == 0x70 || (b >= 0xe0 && b <= 0xe3))
            && lands_in(code, len, i + 2, 1, start, lo, hi))
            return 1;
        size_t opcode = 0;
        if (b == 0xe8 || b == 0xe9) opcode = 1;
        if ((b == 0x0f && (next & 0xf0) == 0x80) || (b == 0xc7 && next == 0xf8)) opcode = 2;
        if (opcode
            && (lands_in(code, len, i + opcode + 4, 4, start, lo, hi)
                || lands_in(code, len, i + opcode + 2, 2, start, lo, hi)))
            return 1;
    }
    return 0;
}

int revenant_site_branches_into(const uint8_t *code, size_t len, uint64_t start, uint64_t lo, uint64_t hi)
{
    if (!may_branch_into(code, len, start, lo, hi)) return 0;
    cs_insn *insn = new_insn();
    if (!insn) return 1;
    const uint8_t *p = code;
    size_t left = len;
    uint64_t addr = start;
    int into = 0;
    while (!into && left > 0 && cs_disasm_iter(decoder, &p, &left, &addr, insn)) {
        uint64_t t = direct_target(insn);
        into = t > lo && t <= hi;
    }
    cs_free(insn, 1);
    return into || left != 0;
}
