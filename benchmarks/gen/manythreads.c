/* N threads (default 1000) parked at different depths in different call chains, so that a core has
 * many distinct stacks; then the main thread crashes. Built -O2 -g; 64 KiB thread stacks keep
 * the core small. Usage: manythreads [N] */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static pthread_barrier_t ready;

__attribute__((noinline)) static void park(void) {
    pthread_barrier_wait(&ready);
    struct timespec ts = {3600, 0};
    for (;;) nanosleep(&ts, NULL);
}

__attribute__((noinline)) static long chain_a(int d);
__attribute__((noinline)) static long chain_b(int d);
__attribute__((noinline)) static long chain_c(int d);

static long chain_a(int d) { if (d <= 0) park(); return (d & 1 ? chain_b(d - 1) : chain_c(d - 1)) + 1; }
static long chain_b(int d) { if (d <= 0) park(); return (d % 3 ? chain_a(d - 1) : chain_c(d - 1)) + 2; }
static long chain_c(int d) { if (d <= 0) park(); return chain_a(d - 1) + 3; }

static void *worker(void *arg) {
    long i = (long)arg;
    return (void *)(chain_a((int)(i % 23)) + (i % 5 == 0 ? chain_b((int)(i % 11)) : 0));
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_barrier_init(&ready, NULL, n + 1);
    for (long i = 0; i < n; i++) {
        pthread_t t;
        pthread_create(&t, &attr, worker, (void *)i);
    }
    pthread_barrier_wait(&ready);
    volatile int *p = NULL;
    return *p;
}
