import { describe, expect, it, vi } from "vitest";
import {
  CARD,
  cardPlace,
  gridColumns,
  gridHeight,
  Lru,
  visibleRange,
} from "./gallerygrid";

const PITCH = CARD.height + CARD.gap;

describe("the virtual grid", () => {
  it("fits as many cards across as the width holds, at least one", () => {
    expect(gridColumns(CARD.width)).toBe(1);
    expect(gridColumns(3 * CARD.width + 2 * CARD.gap)).toBe(3);
    expect(gridColumns(3 * CARD.width + 2 * CARD.gap - 1)).toBe(2);
    expect(gridColumns(0)).toBe(1);
  });

  it("places a card by its row and column", () => {
    expect(cardPlace(7, 3)).toEqual({
      row: 2,
      column: 1,
      x: CARD.width + CARD.gap,
      y: 2 * PITCH,
    });
    expect(gridHeight(7, 3)).toBe(3 * PITCH - CARD.gap);
    expect(gridHeight(0, 3)).toBe(0);
  });

  it("keeps only the rows in view and one around them, of 10,000 cards", () => {
    const columns = 6;
    expect(visibleRange(0, 3 * PITCH, 10_000, columns)).toEqual({
      start: 0,
      end: 4 * columns,
    });
    const middle = visibleRange(500 * PITCH + 10, 3 * PITCH, 10_000, columns);
    expect(middle).toEqual({ start: 499 * columns, end: 505 * columns });
    expect(middle.end - middle.start).toBeLessThan(60);
    const last = visibleRange(
      gridHeight(10_000, columns) - 3 * PITCH,
      3 * PITCH,
      10_000,
      columns,
    );
    expect(last.end).toBe(10_000);
  });
});

describe("Lru", () => {
  it("drops the least recently used, and says which", () => {
    const dropped = vi.fn();
    const cache = new Lru<number, string>(2, dropped);
    cache.set(1, "a");
    cache.set(2, "b");
    expect(cache.get(1)).toBe("a"); // 1 is now the most recent
    cache.set(3, "c");
    expect(cache.has(2)).toBe(false);
    expect(dropped).toHaveBeenCalledWith("b");
    expect([cache.has(1), cache.has(3), cache.length]).toEqual([true, true, 2]);
    cache.clear();
    expect(dropped).toHaveBeenCalledTimes(3);
  });
});
