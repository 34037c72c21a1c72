/* cmd_load.c - placeholder for the 'load' verb until its issue lands. */
#include <stdio.h>
#include "commands.h"

int chim_cmd_load(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "chimcollect: 'load' is not implemented in this build\n");
    return 2;
}
