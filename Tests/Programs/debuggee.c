/* The program `revenant gdb`'s tests debug (Tests/RevenantTests/GDBTests.swift), built with -g:
 * a function called in a loop, a global it writes, and, with an argument, a crash through a
 * pointer that was set wrong earlier. */
#include <stdio.h>
#include <stdlib.h>

int counter;
long total;
int *slot;

int square(int i) {
    int sq = i * i;
    total += sq;
    return sq;
}

int main(int argc, char **argv) {
    for (int i = 0; i < 5; i++) {
        counter = i;
        square(i);
        printf("i=%d total=%ld\n", i, total);
    }
    if (argc > 1) {
        slot = (int *)(long)atoi(argv[1]);
        printf("storing through %p\n", (void *)slot);
        *slot = 42;
    }
    return 0;
}
