/* cmd_gate.c - placeholder for the 'gate' verb until its issue lands. */
#include <stdio.h>
#include "commands.h"

int chim_cmd_gate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "chimcollect: 'gate' is not implemented in this build\n");
    return 2;
}
