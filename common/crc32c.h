/* Tier: generic (no libpq, nothing of PgQ, Londiste or WAL; includes generic headers only). */
/* crc32c.h: CRC-32C (Castagnoli), the checksum of archived WAL files. */
#ifndef CRC32C_H
#define CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend crc (0 to start) over n bytes at p; returns the new value.  Uses
 * the SSE4.2 instruction when the CPU has it, slicing-by-8 otherwise; the
 * result is the same either way. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

#endif
