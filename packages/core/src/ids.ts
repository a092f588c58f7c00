const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

let lastTime = -1;
const lastRandom = new Uint8Array(16);

/**
 * A new record id: `aud_` and a ULID (48-bit time, 80 random bits, Crockford
 * base32). Ids made in one process are strictly increasing, also within one
 * millisecond, so they break ties in `created` in the order actions completed.
 */
export function newRecordId(now: number = Date.now()): string {
  if (now <= lastTime) {
    incrementRandom();
    now = lastTime;
  } else {
    lastTime = now;
    crypto.getRandomValues(lastRandom);
  }
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  // 16 random symbols of 5 bits from the low 10 bytes.
  let random = '';
  let bits = 0;
  let value = 0;
  for (let i = 6; i < 16; i++) {
    value = (value << 8) | lastRandom[i]!;
    bits += 8;
    while (bits >= 5) {
      random += CROCKFORD[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return `aud_${time}${random}`;
}

function incrementRandom(): void {
  for (let i = 15; i >= 6; i--) {
    lastRandom[i] = (lastRandom[i]! + 1) & 0xff;
    if (lastRandom[i] !== 0) return;
  }
}
