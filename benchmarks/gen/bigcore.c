/* Allocates argv[1] MiB, fills it with pseudo-random words (and a few smash-like runs), then
 * aborts so the kernel writes a core of at least that much captured memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? strtoul(argv[1], 0, 10) : 1200;
    size_t n = mib << 17;                 /* 8-byte words */
    uint64_t *p = malloc(n * 8), x = 88172645463325252ULL;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        p[i] = x;
    }
    for (size_t r = 0; r < 1000; r++)     /* runs the scan must find */
        memset(p + (r * 1000003) % (n - 64), 0x41, 64 * 8);
    abort();
}
