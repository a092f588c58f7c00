const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Every pair of Crockford symbols, by the 10 bits they encode: the tail of an id in two lookups. */
const PAIRS: readonly string[] = Array.from({ length: 1024 }, (_, i) => CROCKFORD[i >> 5]! + CROCKFORD[i & 31]!);

/** Random bytes drawn in bulk (one `getRandomValues` per 400 milliseconds that make ids), 10 per millisecond. */
const pool = new Uint8Array(4000);
let poolAt = pool.length;

let lastTime = -1;
/** The 80 random bits of the last id, as 16 symbols of 5 bits. */
const symbols = new Uint8Array(16);
/** `aud_`, the time and the first 12 random symbols of the last id: only its last four symbols change within a millisecond. */
let head = '';

function drawRandom(): void {
  if (poolAt + 10 > pool.length) {
    crypto.getRandomValues(pool);
    poolAt = 0;
  }
  // 16 symbols of 5 bits from 10 bytes.
  let bits = 0;
  let value = 0;
  let at = 0;
  for (let i = poolAt; i < poolAt + 10; i++) {
    value = (value << 8) | pool[i]!;
    bits += 8;
    while (bits >= 5) {
      symbols[at++] = (value >>> (bits - 5)) & 31;
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  poolAt += 10;
}

function timeSymbols(time: number): string {
  let text = '';
  let t = time;
  for (let i = 0; i < 10; i++) {
    text = CROCKFORD[t % 32] + text;
    t = Math.floor(t / 32);
  }
  return text;
}

function buildHead(time: number): void {
  let text = `aud_${timeSymbols(time)}`;
  for (let i = 0; i < 12; i++) text += CROCKFORD[symbols[i]!];
  head = text;
}

/** Adds one to the 80-bit random part; `true` when the carry reached the first 12 symbols (the cached head is stale). */
function incrementRandom(): boolean {
  for (let i = 15; i >= 0; i--) {
    symbols[i] = (symbols[i]! + 1) & 31;
    if (symbols[i] !== 0) return i < 12;
  }
  return true;
}

/**
 * A new record id: `aud_` and a ULID (48-bit time, 80 random bits, Crockford
 * base32). Ids made in one process are strictly increasing, also within one
 * millisecond, so they break ties in `created` in the order actions completed.
 * Within a millisecond only the last four symbols are built anew.
 */
export function newRecordId(now: number = Date.now()): string {
  if (now <= lastTime) {
    if (incrementRandom()) buildHead(lastTime);
  } else {
    lastTime = now;
    drawRandom();
    buildHead(now);
  }
  return head + PAIRS[(symbols[12]! << 5) | symbols[13]!] + PAIRS[(symbols[14]! << 5) | symbols[15]!];
}
