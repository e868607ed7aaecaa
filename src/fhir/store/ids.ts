// Ids of new FHIR resources: UUIDv7 (RFC 9562) — a millisecond timestamp, then a counter, then 62 random bits.
// New ids sort after older ones, so a bulk load appends to the right edge of every index that leads with the id
// (the primary key per type and the per-resource index-table indexes) instead of touching a random page of a
// gigabyte-sized index per row; at 1 M resources that is the difference between hitting shared buffers and not.
// The creation time an id reveals is already public in meta.lastUpdated and the created-at extension.
import { randomBytes } from 'node:crypto';

let lastMs = 0;
let counter = 0;
let pool = Buffer.alloc(0);
let poolAt = 0;

function random8(): Buffer {
  if (poolAt + 8 > pool.length) {
    pool = randomBytes(8 * 512);
    poolAt = 0;
  }
  const b = pool.subarray(poolAt, poolAt + 8);
  poolAt += 8;
  return b;
}

/** A new UUIDv7, monotonic within this process (a counter orders ids made in the same millisecond). */
export function newResourceId(): string {
  let ms = Date.now();
  if (ms <= lastMs) {
    ms = lastMs;
    counter++;
    if (counter > 0xfff) {
      ms = ++lastMs;
      counter = 0;
    }
  } else {
    lastMs = ms;
    counter = 0;
  }
  const r = random8();
  const hex = ms.toString(16).padStart(12, '0');
  const a = (0x7000 | counter).toString(16);
  const b = ((r[0]! & 0x3f) | 0x80).toString(16).padStart(2, '0') + r.toString('hex', 1, 2);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${a}-${b}-${r.toString('hex', 2, 8)}`;
}
