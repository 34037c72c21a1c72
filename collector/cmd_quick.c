/* cmd_quick.c - placeholder for the 'quick' verb until its issue lands. */
#include <stdio.h>
#include "commands.h"

int chim_cmd_quick(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "chimcollect: 'quick' is not implemented in this build\n");
    return 2;
}
