/* `make bench`'s program for revenant gdb (Scripts/bench_gdb.py): N rounds of a long computation
 * without syscalls, each followed by a short stretch (~100k instructions) between two getppid
 * calls in which tick() writes `last`. Built with -g -O1. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

volatile long sink, last;

void tick(int k) { last = k; }

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    long work = argc > 2 ? atol(argv[2]) : 25000000;
    for (int k = 0; k < rounds; k++) {
        for (long j = 0; j < work; j++) sink += j;
        getppid();
        tick(k);
        for (long j = 0; j < 25000; j++) sink += j;
        getppid();
    }
    printf("%ld %ld\n", sink, last);
    return 0;
}
