/*
 * main.c - chim-load, the standalone load generator; the same command line
 * as `chimcollect load` (see chim_load.h and docs/TOOLS.md).
 */
#include "chim_load.h"

int main(int argc, char **argv)
{
    return chim_load_main(argc, argv, "chim-load");
}
