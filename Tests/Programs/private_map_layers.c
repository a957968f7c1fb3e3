// FileMappingTests: private file mappings as ld.so makes them, a span then segments over it at
// other file offsets, read as Linux reads them: the file's bytes, zeros after its end in its last
// page, the program's own writes gone under a new mapping, and SIGBUS past the file's end. With an
// argument, then a private mapping of /dev/zero, which has no end: anonymous memory (in `run`, in
// a recording, and in its replay, which maps the device again where it maps a file's copy).
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096
#define SIZE (3 * PAGE + 100)

static unsigned char byte_at(long i) { return (unsigned char)(i / PAGE * 31 + i % 251 + 1); }

/* Whether [p, p+n) holds the file's bytes from offset `off`, zeros after its end. */
static int holds(const unsigned char *p, long off, long n)
{
    for (long i = 0; i < n; i++)
        if (p[i] != (off + i < SIZE ? byte_at(off + i) : 0)) return 0;
    return 1;
}

int main(int argc, char **argv)
{
    (void)argv;
    static unsigned char data[SIZE];
    for (long i = 0; i < SIZE; i++) data[i] = byte_at(i);
    int fd = open("layers.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, data, SIZE) != SIZE) return 1;
    /* The span: six pages, the last two wholly past the file's end. */
    unsigned char *span = mmap(NULL, 6 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (span == MAP_FAILED) return 2;
    printf("span %d\n", holds(span, 0, 4 * PAGE));
    /* A segment over its second page, from the file's third. */
    if (mmap(span + PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 2 * PAGE) != span + PAGE) return 3;
    printf("segment %d rest %d\n", holds(span + PAGE, 2 * PAGE, PAGE), holds(span + 2 * PAGE, 2 * PAGE, 2 * PAGE));
    /* The program's write to the first page, then the first page mapped again: the file's bytes. */
    memset(span, 0xEE, PAGE);
    if (mmap(span, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0) != span) return 4;
    printf("again %d\n", holds(span, 0, PAGE));
    /* The file's last page mapped where a written page was: zeros after the file's end. */
    memset(span + 2 * PAGE, 0xEE, PAGE);
    if (mmap(span + 2 * PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 3 * PAGE) != span + 2 * PAGE) return 5;
    printf("last %d\n", holds(span + 2 * PAGE, 3 * PAGE, PAGE));
    if (argc > 1) {
        int zero = open("/dev/zero", O_RDONLY);
        unsigned char *z = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, zero, 0);
        if (z == MAP_FAILED) return 6;
        (void)getppid(); /* a call after the mapping: the guest's next, when Revenant finishes making it */
        z[PAGE + 7] = 42;
        printf("zero %d %d\n", z[PAGE + 6], z[PAGE + 7]);
    }
    fflush(stdout);
    /* Past the file's end: SIGBUS. */
    return span[5 * PAGE];
}
