/* cmd_run.c - placeholder. */
#include <stdio.h>
#include "commands.h"
int chim_cmd_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 2;
}
