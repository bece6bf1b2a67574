/* Hostile server: the reference server, with SIGTERM, SIGINT and SIGHUP blocked before
 * main(). Its handlers are installed but never run: a blocked signal stays pending. */
#include <signal.h>

#include "reference_server.inc"

__attribute__((constructor)) static void block_polite_signals(void)
{
    sigset_t polite;
    sigemptyset(&polite);
    sigaddset(&polite, SIGTERM);
    sigaddset(&polite, SIGINT);
    sigaddset(&polite, SIGHUP);
    sigprocmask(SIG_BLOCK, &polite, NULL);
}
