/*
 * fuzz_segment.c - libFuzzer target for the collector's segment reader:
 * any bytes go through validation, and whatever validates is summarised and
 * turned into a report, all of which must stay in bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    if (chim_seg_validate(data, size, err, sizeof err) != 0)
        return 0;
    unsigned char *copy = malloc(size);
    memcpy(copy, data, size);
    struct chim_seg seg = {.data = copy, .size = size, .hdr = (void *)copy};
    seg.state = CHIM_SEG_EXITED;
    chim_seg_add_deltas(&seg, -1); /* before the strings are cut, as in the loader */
    ((struct chim_shm_header *)copy)->exe[CHIM_EXE_MAX - 1] = 0;
    ((struct chim_shm_header *)copy)->cmdline[CHIM_CMDLINE_MAX - 1] = 0;
    chim_seg_summarise(&seg);
    struct chim_seg_set set = {.segs = &seg, .n = 1};
    cJSON *r = chim_report_build(&set, "/fuzz", 0);
    char *s = cJSON_PrintUnformatted(r);
    free(s);
    cJSON_Delete(r);
    free(copy);
    return 0;
}
