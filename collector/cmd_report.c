/* cmd_report.c - placeholder. */
#include <stdio.h>
#include "commands.h"
int chim_cmd_report(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 2;
}
