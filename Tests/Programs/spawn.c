/* posix_spawn (glibc: clone3/clone with CLONE_VM|CLONE_VFORK and a stack of its own), waitpid,
 * a pipe the child writes into, and an exec failure the child reports through shared memory. */
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(void)
{
    int fds[2];
    if (pipe(fds) != 0) return 1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    char *argv[] = { "echo", "spawned", "child", NULL };
    pid_t pid;
    int r = posix_spawn(&pid, "/bin/echo", &actions, NULL, argv, environ);
    printf("posix_spawn: %s\n", r == 0 ? "ok" : strerror(r));
    close(fds[1]);
    char buf[64] = { 0 };
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    printf("read %zd bytes: %s", n, buf);
    int status;
    if (waitpid(pid, &status, 0) != pid) return 2;
    printf("child exited %d\n", WEXITSTATUS(status));
    /* The child writes an exec failure into the memory it shares with its parent: posix_spawn
     * returns it (the parent reads it once the child has ended). */
    char *none[] = { "no-such-program", NULL };
    r = posix_spawn(&pid, "/no/such/program", NULL, NULL, none, environ);
    printf("posix_spawn of a missing program: %s\n", r == 0 ? "ok" : strerror(r));
    char *sh[] = { "sh", "-c", "exit 9", NULL };
    r = posix_spawnp(&pid, "sh", NULL, NULL, sh, environ);
    waitpid(pid, &status, 0);
    printf("posix_spawnp sh: %d, exit %d\n", r, WEXITSTATUS(status));
    return 0;
}
