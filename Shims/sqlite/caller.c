/* Where a call comes from: libsqlite3's address range, and the bodies of sqlite3_exec and
 * sqlite3_get_table, so that the statements SQLite runs for itself are told from the application's
 * (the in_lib/in_exec/in_gettable tests are inline in sqlite_shim_internal.h). */
#include "sqlite_shim_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Where a call comes from                                                                     */

struct range_find {
    uintptr_t addr, lo, hi;
};

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    struct range_find *rf = data;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    int i, hit = 0;
    (void)size;
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t a, b;
        if (ph->p_type != PT_LOAD) continue;
        a = info->dlpi_addr + ph->p_vaddr;
        b = a + ph->p_memsz;
        if (a < lo) lo = a;
        if (b > hi) hi = b;
        if (rf->addr >= a && rf->addr < b) hit = 1;
    }
    if (hit) {
        rf->lo = lo;
        rf->hi = hi;
        return 1;
    }
    return 0;
}

static void body_range(void *fn, uintptr_t *lo, uintptr_t *hi)
{
    Dl_info info;
    ElfW(Sym) *sym = NULL;
    if (fn && dladdr1(fn, &info, (void **)&sym, RTLD_DL_SYMENT) && sym && sym->st_size) {
        *lo = (uintptr_t)fn;
        *hi = (uintptr_t)fn + sym->st_size;
    }
}

void find_lib(void)
{
    struct range_find rf;
    if (g_lib_hi || !R(sqlite3_initialize)) return;
    rf.addr = (uintptr_t)real_sqlite3_initialize;
    rf.lo = rf.hi = 0;
    dl_iterate_phdr(phdr_cb, &rf);
    body_range((void *)R(sqlite3_exec), &g_exec_lo, &g_exec_hi);
    body_range((void *)R(sqlite3_get_table), &g_gettable_lo, &g_gettable_hi);
    g_lib_lo = rf.lo;
    g_lib_hi = rf.hi;
}
