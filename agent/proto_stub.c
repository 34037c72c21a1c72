/* Keeps chim_proto non-empty until parsers land. */
int chim__proto_stub;
