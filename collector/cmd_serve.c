/* cmd_serve.c - placeholder for the 'serve' verb until its issue lands. */
#include <stdio.h>
#include "commands.h"

int chim_cmd_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "chimcollect: 'serve' is not implemented in this build\n");
    return 2;
}
