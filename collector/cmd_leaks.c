/* cmd_leaks.c - placeholder for the 'leaks' verb until its issue lands. */
#include <stdio.h>
#include "commands.h"

int chim_cmd_leaks(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "chimcollect: 'leaks' is not implemented in this build\n");
    return 2;
}
