// Seeded randomness for the fault suite: one seed picks the schedule, the clients' choices and
// their backoff, so a failing run is replayed from the seed it printed (CHAOS_SEED / --seed).
// Timing still varies between runs, as in any test of a real distributed system.

/** A uniform float in [0, 1), like Math.random. */
export type Rng = () => number;

/** mulberry32: tiny, fast, and good enough to pick schedules. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An independent stream for one purpose (`label`), so adding a draw in one place does not shift the others. */
export function fork(seed: number, label: string): Rng {
  let h = seed >>> 0;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return mulberry32(h);
}

/** An integer in [min, max]. */
export function between(rng: Rng, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}

export function pick<T>(rng: Rng, items: readonly T[]): T {
  const item = items[Math.floor(rng() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

export function chance(rng: Rng, p: number): boolean {
  return rng() < p;
}

/** The seed of a run: CHAOS_SEED when set (a replay), else a fresh one. */
export function seedFromEnv(value = process.env['CHAOS_SEED']): number {
  if (value === undefined || value === '') return Math.floor(Math.random() * 2 ** 31);
  const seed = Number(value);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`CHAOS_SEED must be a non-negative integer, got "${value}"`);
  return seed;
}
