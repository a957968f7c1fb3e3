/* Initialisation: the shim registers its VFS and auto-extension right after the program's own
 * sqlite3_initialize, and again after sqlite3_shutdown or sqlite3_reset_auto_extension. */
#include "sqlite_shim_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Initialisation                                                                              */

static pthread_mutex_t g_reg_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static int g_registered, g_registering;
static TLS int t_init_depth;

API int sqlite3_initialize(void)
{
    int rc;
    if (!R(sqlite3_initialize)) return SQLITE_ERROR;
    t_init_depth++;
    rc = real_sqlite3_initialize();
    t_init_depth--;
    /* the real one re-enters itself (sqlite3_malloc…) and the inner calls return while the outer
     * one is still working: register only when the outermost returns */
    if (!g_on || rc != SQLITE_OK || g_registered || t_init_depth) return rc;
    {
        int e = errno;
        pthread_mutex_lock(&g_reg_lock);
        if (!g_registered && !g_registering) {
            g_registering = 1; /* vfs_find, vfs_register, auto_extension re-enter us */
            find_lib();
            install_vfs();
            if (R(sqlite3_auto_extension)) real_sqlite3_auto_extension((void (*)(void))hook_conn);
            g_registered = 1;
            g_registering = 0;
        }
        pthread_mutex_unlock(&g_reg_lock);
        errno = e;
    }
    return rc;
}

API int sqlite3_shutdown(void)
{
    int rc;
    if (!R(sqlite3_shutdown)) return SQLITE_ERROR;
    rc = real_sqlite3_shutdown();
    if (g_on && rc == SQLITE_OK) g_registered = 0; /* auto-extensions are gone: register again */
    return rc;
}

API void sqlite3_reset_auto_extension(void)
{
    if (!R(sqlite3_reset_auto_extension)) return;
    real_sqlite3_reset_auto_extension();
    if (g_on && g_registered && R(sqlite3_auto_extension)) {
        int e = errno;
        real_sqlite3_auto_extension((void (*)(void))hook_conn);
        errno = e;
    }
}
