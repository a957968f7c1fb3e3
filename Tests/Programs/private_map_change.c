// FileMappingTests: a private mapping of a file the program then changes with pwrite(2). Linux
// shows the change in a page not touched yet; Revenant maps a file on a writable mount as a
// snapshot, so that the recording and its replay (which maps the recorded copy) read the same.
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
    char page[4096];
    int fd = open("data.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
    memset(page, 'A', sizeof page);
    if (fd < 0 || write(fd, page, sizeof page) != 4096 || write(fd, page, sizeof page) != 4096) return 1;
    const char *p = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) return 2;
    char first = p[0];
    memset(page, 'B', sizeof page);
    if (pwrite(fd, page, sizeof page, 4096) != 4096) return 3;
    printf("%c %c\n", first, p[4096]);
    return 0;
}
