/* cmd_baseline.c - placeholder for the 'baseline' verb until its issue lands. */
#include <stdio.h>
#include "commands.h"

int chim_cmd_baseline(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "chimcollect: 'baseline' is not implemented in this build\n");
    return 2;
}
