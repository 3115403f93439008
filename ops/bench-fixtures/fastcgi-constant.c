/* The ceiling of a FastCGI route on this machine (ops/bench): libfcgi and nothing else.
 * THREADS threads each accept a request on the unix socket at argv[1], answer a constant and
 * finish it. */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

enum { THREADS = 8 };
static int listener;

static void *serve(void *unused) {
    (void)unused;
    FCGX_Request request;
    FCGX_InitRequest(&request, listener, 0);
    while (FCGX_Accept_r(&request) >= 0) {
        FCGX_PutS("Status: 200 OK\r\nContent-Type: application/json\r\n\r\n{\"status\":\"ok\"}", request.out);
        FCGX_Finish_r(&request);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
        return 64;
    }
    if (FCGX_Init() != 0 || (listener = FCGX_OpenSocket(argv[1], 1024)) < 0) {
        perror("fastcgi-constant");
        return 1;
    }
    /* libfcgi's own SIGTERM handler only sets a flag that a thread blocked in accept never
     * reads: the bench's kill would leave this process behind. */
    signal(SIGTERM, SIG_DFL);
    chmod(argv[1], 0660);
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, serve, NULL);
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    return 0;
}
