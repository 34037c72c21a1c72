/* cmd_full.c - placeholder for the 'full' verb until its issue lands. */
#include <stdio.h>
#include "commands.h"

int chim_cmd_full(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "chimcollect: 'full' is not implemented in this build\n");
    return 2;
}
