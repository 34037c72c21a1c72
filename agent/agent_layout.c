/*
 * agent_layout.c - which sections a segment has beyond the thread slots.
 * Each subsystem contributes its rows here, sized from the settings; the
 * writer places them (64-byte aligned, in this order) and records them in
 * the header's section directory. Keep this the only list.
 */
#include "agent.h"
#include "leak.h"
#include "net_track.h"

uint32_t chim__extra_sections(struct chim_section *rows, uint32_t room)
{
    uint32_t n = 0;
    (void)rows;
    (void)room;
    n += chim__leak_sections(rows + n, room - n); /* leak tracking (sample/full) */
    n += chim__net_sections(rows + n, room - n);  /* request capture */
    return n;
}
