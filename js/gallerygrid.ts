// The gallery's virtual grid: which cards are in view, laid out in rows of fixed height, so that only those (and a
// row or two around them) exist in the page whatever the number of samples.

/** A card's size and the space between cards, in CSS pixels. */
export const CARD = { width: 148, height: 214, gap: 8 } as const;

/** How many cards fit across `width` pixels: at least one. */
export function gridColumns(width: number, card = CARD): number {
  return Math.max(1, Math.floor((width + card.gap) / (card.width + card.gap)));
}

/** Where the card at `position` (0: the first shown) sits: its row and column, and its top-left corner. */
export function cardPlace(
  position: number,
  columns: number,
  card = CARD,
): { row: number; column: number; x: number; y: number } {
  const row = Math.floor(position / columns);
  const column = position % columns;
  return {
    row,
    column,
    x: column * (card.width + card.gap),
    y: row * (card.height + card.gap),
  };
}

/** The height of the whole grid of `count` cards. */
export function gridHeight(
  count: number,
  columns: number,
  card = CARD,
): number {
  const rows = Math.ceil(count / columns);
  return rows === 0 ? 0 : rows * (card.height + card.gap) - card.gap;
}

/**
 * The positions [start, end) of the cards to keep in the page when the viewport shows `height` pixels from
 * `scrollTop`: every row that shows, and `overscan` rows above and below.
 */
export function visibleRange(
  scrollTop: number,
  height: number,
  count: number,
  columns: number,
  overscan = 1,
  card = CARD,
): { start: number; end: number } {
  const pitch = card.height + card.gap;
  const first = Math.max(0, Math.floor(scrollTop / pitch) - overscan);
  const bottom = scrollTop + Math.max(1, height) - 1; // the last pixel in view
  const last = Math.floor(bottom / pitch) + overscan;
  return {
    start: Math.min(count, first * columns),
    end: Math.min(count, (last + 1) * columns),
  };
}

/** At most `size` values, the least recently used dropped first (`dropped` is told of each). */
export class Lru<K, V> {
  private readonly items = new Map<K, V>();

  constructor(
    readonly size: number,
    private readonly dropped: (value: V) => void = () => undefined,
  ) {}

  get(key: K): V | undefined {
    const value = this.items.get(key);
    if (value !== undefined) {
      this.items.delete(key);
      this.items.set(key, value);
    }
    return value;
  }

  has(key: K): boolean {
    return this.items.has(key);
  }

  set(key: K, value: V): void {
    const old = this.items.get(key);
    if (old !== undefined && old !== value) this.dropped(old);
    this.items.delete(key);
    this.items.set(key, value);
    while (this.items.size > this.size) {
      const [oldest, value] = this.items.entries().next().value as [K, V];
      this.items.delete(oldest);
      this.dropped(value);
    }
  }

  clear(): void {
    for (const value of this.items.values()) this.dropped(value);
    this.items.clear();
  }

  get length(): number {
    return this.items.size;
  }
}
