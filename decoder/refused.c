/*
 * refused.c - the decoder's memory of raw records whose output the broker refused as too
 * large (loop.c says how it is used: a suspect is produced alone after the abort, a confirmed
 * one is dead-lettered). Pure bookkeeping, no Kafka, so that it is tested alone.
 *
 * DESIGN: an entry lives until its record's offset is committed (decoder_refused_settle),
 * until its partition is revoked (decoder_refused_drop_partition: another decoder decodes it
 * now, and this one will never commit it), or, a suspect only, until its full output is
 * delivered. So the memory holds at most the records of the open batch and grows to fit
 * them: a refusal is never forgotten for want of room.
 */
#include <stdlib.h>

#include "buf.h"
#include "decoder_int.h"

void decoder_refused_release(decoder_refused *m)
{
    free(m->e);
    m->e = NULL;
    m->n = m->cap = 0;
}

long decoder_refused_find(const decoder_refused *m, int32_t partition, int64_t offset)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].partition == partition && m->e[i].offset == offset)
            return (long)i;
    return -1;
}

long decoder_refused_add(decoder_refused *m, int32_t partition, int64_t offset, size_t len)
{
    decoder_refused_entry *e = pr_grow(m->e, &m->cap, m->n, sizeof *e, 16);
    if (!e)
        return -1;
    m->e = e;
    m->e[m->n] = (decoder_refused_entry){partition, offset, len, false};
    return (long)m->n++;
}

void decoder_refused_forget(decoder_refused *m, long i)
{
    m->e[i] = m->e[--m->n];
}

void decoder_refused_settle(decoder_refused *m, int32_t partition, int64_t next_offset)
{
    for (size_t i = m->n; i-- > 0;)
        if (m->e[i].partition == partition && m->e[i].offset < next_offset)
            decoder_refused_forget(m, (long)i);
}

void decoder_refused_drop_partition(decoder_refused *m, int32_t partition)
{
    for (size_t i = m->n; i-- > 0;)
        if (m->e[i].partition == partition)
            decoder_refused_forget(m, (long)i);
}
