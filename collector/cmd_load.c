/*
 * cmd_load.c - the 'load' verb: drives HTTP load against a backend with the
 * chim_load library (tools/load), the seed's `load --scenario api|llm`.
 * All flags, PERF_* variables and exit codes are chim_load_main's.
 */
#include "chim_load.h"
#include "commands.h"

int chim_cmd_load(int argc, char **argv)
{
    return chim_load_main(argc, argv, "chimcollect load");
}
