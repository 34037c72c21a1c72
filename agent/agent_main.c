/* agent_main.c placeholder */
int chim__agent_placeholder;
