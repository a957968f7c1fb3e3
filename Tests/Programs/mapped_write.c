// RestoreTests: a file written through a shared writable mapping (stores the trace does not see),
// and one written with write(2) beside it.
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
    int fd = open("mapped.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, 4096) != 0) return 1;
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return 2;
    memcpy(p, "stored through the mapping", 26);
    munmap(p, 4096);
    close(fd);
    int plain = open("plain.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (plain < 0 || write(plain, "written\n", 8) != 8) return 3;
    close(plain);
    return 0;
}
