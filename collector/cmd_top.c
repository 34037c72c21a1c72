/* cmd_top.c - placeholder for the 'top' verb until its issue lands. */
#include <stdio.h>
#include "commands.h"

int chim_cmd_top(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "chimcollect: 'top' is not implemented in this build\n");
    return 2;
}
