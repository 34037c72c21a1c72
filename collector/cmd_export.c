/* cmd_export.c - placeholder for the 'export' verb until its issue lands. */
#include <stdio.h>
#include "commands.h"

int chim_cmd_export(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "chimcollect: 'export' is not implemented in this build\n");
    return 2;
}
