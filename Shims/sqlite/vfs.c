/* The VFS wrapper: the default VFS, wrapped so that its randomness (SQL_SEED) and clock
 * (SQL_CLOCK) are logged; everything else passes through. Installed by sqlite3_initialize (init.c). */
#include "sqlite_shim_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* The VFS wrapper                                                                             */

static sqlite3_vfs g_vfs;
static sqlite3_vfs *g_rvfs;

static int v_open(sqlite3_vfs *v, const char *z, sqlite3_file *f, int fl, int *o)
{
    (void)v;
    return g_rvfs->xOpen(g_rvfs, z, f, fl, o);
}
static int v_delete(sqlite3_vfs *v, const char *z, int sync)
{
    (void)v;
    return g_rvfs->xDelete(g_rvfs, z, sync);
}
static int v_access(sqlite3_vfs *v, const char *z, int fl, int *o)
{
    (void)v;
    return g_rvfs->xAccess(g_rvfs, z, fl, o);
}
static int v_fullpath(sqlite3_vfs *v, const char *z, int n, char *o)
{
    (void)v;
    return g_rvfs->xFullPathname(g_rvfs, z, n, o);
}
static void *v_dlopen(sqlite3_vfs *v, const char *z)
{
    (void)v;
    return g_rvfs->xDlOpen(g_rvfs, z);
}
static void v_dlerror(sqlite3_vfs *v, int n, char *z)
{
    (void)v;
    g_rvfs->xDlError(g_rvfs, n, z);
}
static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *z))(void)
{
    (void)v;
    return g_rvfs->xDlSym(g_rvfs, h, z);
}
static void v_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    g_rvfs->xDlClose(g_rvfs, h);
}
static int v_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return g_rvfs->xSleep(g_rvfs, us);
}
static int v_lasterror(sqlite3_vfs *v, int n, char *z)
{
    (void)v;
    return g_rvfs->xGetLastError(g_rvfs, n, z);
}
static int v_setsys(sqlite3_vfs *v, const char *z, sqlite3_syscall_ptr p)
{
    (void)v;
    return g_rvfs->xSetSystemCall(g_rvfs, z, p);
}
static sqlite3_syscall_ptr v_getsys(sqlite3_vfs *v, const char *z)
{
    (void)v;
    return g_rvfs->xGetSystemCall(g_rvfs, z);
}
static const char *v_nextsys(sqlite3_vfs *v, const char *z)
{
    (void)v;
    return g_rvfs->xNextSystemCall(g_rvfs, z);
}

static int v_randomness(sqlite3_vfs *v, int n, char *out)
{
    int r = g_rvfs->xRandomness(g_rvfs, n, out), e = errno;
    size_t len = n > 0 ? (size_t)n : 0;
    (void)v;
    EMIT_BEGIN(1 + usize(len) + strsize(len));
    *q++ = REVENANT_REC_SQL_SEED;
    q = uput(q, len);
    q = strput(q, out, len);
    EMIT_END();
    errno = e;
    return r;
}

static void emit_clock(int64_t t)
{
    EMIT_BEGIN(1 + usize(zz(t)));
    *q++ = REVENANT_REC_SQL_CLOCK;
    q = uput(q, zz(t));
    EMIT_END();
}

static int v_time64(sqlite3_vfs *v, sqlite3_int64 *t)
{
    int r = g_rvfs->xCurrentTimeInt64(g_rvfs, t), e = errno;
    (void)v;
    emit_clock(*t);
    errno = e;
    return r;
}

static int v_time(sqlite3_vfs *v, double *t)
{
    int r = g_rvfs->xCurrentTime(g_rvfs, t), e = errno;
    double ms = *t * 86400000.0;
    (void)v;
    emit_clock((int64_t)(ms < 0 ? ms - 0.5 : ms + 0.5));
    errno = e;
    return r;
}

void install_vfs(void)
{
    sqlite3_vfs *d = R(sqlite3_vfs_find) ? real_sqlite3_vfs_find(NULL) : NULL;
    if (!d || d == &g_vfs || !R(sqlite3_vfs_register)) return;
    g_rvfs = d;
    memset(&g_vfs, 0, sizeof g_vfs);
    g_vfs.iVersion = d->iVersion;
    g_vfs.szOsFile = d->szOsFile;
    g_vfs.mxPathname = d->mxPathname;
    g_vfs.zName = d->zName; /* the same name: URIs naming it get the wrapper */
    g_vfs.pAppData = d->pAppData;
    g_vfs.xOpen = (__typeof__(g_vfs.xOpen))v_open;
    g_vfs.xDelete = v_delete;
    g_vfs.xAccess = v_access;
    g_vfs.xFullPathname = v_fullpath;
    g_vfs.xDlOpen = d->xDlOpen ? v_dlopen : NULL;
    g_vfs.xDlError = d->xDlError ? v_dlerror : NULL;
    g_vfs.xDlSym = d->xDlSym ? v_dlsym : NULL;
    g_vfs.xDlClose = d->xDlClose ? v_dlclose : NULL;
    g_vfs.xRandomness = v_randomness;
    g_vfs.xSleep = v_sleep;
    g_vfs.xCurrentTime = v_time;
    g_vfs.xGetLastError = d->xGetLastError ? v_lasterror : NULL;
    if (d->iVersion >= 2) g_vfs.xCurrentTimeInt64 = d->xCurrentTimeInt64 ? v_time64 : NULL;
    if (d->iVersion >= 3) {
        g_vfs.xSetSystemCall = d->xSetSystemCall ? v_setsys : NULL;
        g_vfs.xGetSystemCall = d->xGetSystemCall ? v_getsys : NULL;
        g_vfs.xNextSystemCall = d->xNextSystemCall ? v_nextsys : NULL;
    }
    if (real_sqlite3_vfs_register(&g_vfs, 1) != SQLITE_OK) g_rvfs = NULL;
}
