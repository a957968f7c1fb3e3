/* The real functions: resolve() finds each libsqlite3 function the shim wraps or calls, on first
 * use (R in sqlite_shim_internal.h), and real_<name> keeps it. A file of its own because every
 * other file calls through these pointers. */
#include "sqlite_shim_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* The real functions                                                                          */

void *resolve(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        void *h = dlopen("libsqlite3.so.0", RTLD_NOLOAD | RTLD_LAZY);
        if (h) {
            p = dlsym(h, name);
            dlclose(h);
        }
    }
    return p;
}

/* The pointers, one for each name of REAL_FUNCTIONS (sqlite_shim_internal.h). */
#define REAL(name) __typeof__(name) *real_##name;
REAL_FUNCTIONS(REAL)
#undef REAL

/* The legacy trace and profile (declared by hand in sqlite_shim_internal.h). */
trace_fn real_trace;
profile_fn real_profile;
