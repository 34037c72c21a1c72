/* Placeholder so the library is never empty. */
int chim__analyzer_stub;
