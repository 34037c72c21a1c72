/* cmd_clean.c - placeholder. */
#include <stdio.h>
#include "commands.h"
int chim_cmd_clean(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 2;
}
