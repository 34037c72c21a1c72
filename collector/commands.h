/*
 * commands.h - the verbs of chimcollect. Each verb lives in its own
 * cmd_<verb>.c and takes the arguments after the verb (argv[0] is the verb).
 * Return value is the process exit code: 0 success, 1 a gate or check
 * failed, 2 usage or input error (the analyzer's convention).
 */
#ifndef CHIM_COMMANDS_H
#define CHIM_COMMANDS_H

int chim_cmd_report(int argc, char **argv);
int chim_cmd_run(int argc, char **argv);
int chim_cmd_clean(int argc, char **argv);
int chim_cmd_leaks(int argc, char **argv);
int chim_cmd_gate(int argc, char **argv);
int chim_cmd_baseline(int argc, char **argv);
int chim_cmd_config(int argc, char **argv);
int chim_cmd_load(int argc, char **argv);
int chim_cmd_quick(int argc, char **argv);
int chim_cmd_full(int argc, char **argv);
int chim_cmd_serve(int argc, char **argv);
int chim_cmd_export(int argc, char **argv);
int chim_cmd_top(int argc, char **argv);

/* Global verbosity (-v), set by main. */
extern int chim_verbose;

#endif
