/** The median of some numbers (the mean of the middle two for an even count); `NaN` for none. */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/**
 * The `p`th percentile (0–100) of some numbers, by linear interpolation
 * between the closest ranks; `NaN` for none.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  return percentileOfSorted(Float64Array.from(values).sort(), p);
}

/** Like {@link percentile}, for values already sorted ascending. */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

/** A growable list of numbers in one typed array, for hundreds of thousands of latencies. */
export class Samples {
  private data = new Float64Array(1 << 16);
  private size = 0;

  push(value: number): void {
    if (this.size === this.data.length) {
      const larger = new Float64Array(this.data.length * 2);
      larger.set(this.data);
      this.data = larger;
    }
    this.data[this.size++] = value;
  }

  get length(): number {
    return this.size;
  }

  /** A sorted copy. */
  sorted(): Float64Array {
    return this.data.slice(0, this.size).sort();
  }
}
