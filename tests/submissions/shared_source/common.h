/* Shared by server.c and client.c: built without a Makefile by the default compile rule. */
const char *greeting(const char *who);
