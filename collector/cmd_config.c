/* cmd_config.c - placeholder for the 'config' verb until its issue lands. */
#include <stdio.h>
#include "commands.h"

int chim_cmd_config(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "chimcollect: 'config' is not implemented in this build\n");
    return 2;
}
