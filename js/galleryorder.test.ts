import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { ColumnInfo, Filter, TokenReduction } from "./gallerymodel";
import {
  describeFilter,
  formatValue,
  orderRows,
  parseBound,
  withFilter,
  type Table,
} from "./galleryorder";

/** The cases tests/gallery/test_index.py runs on the kernel's index: an exported page must order as it does. */
const CASES = JSON.parse(
  readFileSync(
    new URL("../tests/gallery/order_cases.json", import.meta.url),
    "utf-8",
  ),
) as {
  columns: ColumnInfo[];
  table: Table;
  queries: {
    query: {
      sort_by: string;
      descending: boolean;
      filters: Filter[];
      token: TokenReduction;
    };
    order: number[];
  }[];
};

describe("orderRows", () => {
  it.each(CASES.queries.map((c) => [JSON.stringify(c.query), c] as const))(
    "orders as the kernel does: %s",
    (_, { query, order }) => {
      const { rows } = orderRows(CASES.table, CASES.columns, query, 6);
      expect(rows).toEqual(order);
    },
  );

  it("gives the sort column's numbers beside the rows, null where missing, none for text", () => {
    const query = {
      sort_by: "reliance",
      descending: false,
      filters: [],
      token: "first" as const,
    };
    const numbers = orderRows(CASES.table, CASES.columns, query, 6);
    expect(numbers.values).toEqual([-1, 0.25, 0.5, 0.5, 2, null]);
    const text = orderRows(
      CASES.table,
      CASES.columns,
      { ...query, sort_by: "question" },
      6,
    );
    expect(text.values).toBeNull();
  });
});

describe("filters", () => {
  it("replaces a column's filter, adds a new one at the end and drops an empty one", () => {
    const filters: Filter[] = [
      { column: "question", text: "red" },
      { column: "reliance", min: 0, max: null },
    ];
    expect(withFilter(filters, { column: "question", text: "blue" })).toEqual([
      { column: "question", text: "blue" },
      filters[1],
    ]);
    expect(withFilter(filters, { column: "answer", text: "x" })).toHaveLength(
      3,
    );
    expect(withFilter(filters, { column: "question", text: "" })).toEqual([
      filters[1],
    ]);
    expect(
      withFilter(filters, { column: "reliance", min: null, max: null }),
    ).toEqual([filters[0]]);
  });

  it("reads as its chip says it", () => {
    expect(describeFilter({ column: "question", text: "red" })).toBe(
      "question contains “red”",
    );
    expect(describeFilter({ column: "e", min: 0, max: 0.5 })).toBe(
      "e from 0 to 0.5",
    );
    expect(describeFilter({ column: "e", min: 1, max: null })).toBe("e ≥ 1");
    expect(describeFilter({ column: "e", min: null, max: 2 })).toBe("e ≤ 2");
  });

  it("parses a bound: a number, empty as none, anything else as invalid", () => {
    expect(parseBound(" 0.25 ")).toBe(0.25);
    expect(parseBound("-1e-3")).toBe(-0.001);
    expect(parseBound("")).toBeNull();
    expect(parseBound("abc")).toBeUndefined();
    expect(parseBound("Infinity")).toBeUndefined();
  });

  it("formats a card's value: a dash when missing, three digits otherwise", () => {
    expect(formatValue(null)).toBe("—");
    expect(formatValue(NaN)).toBe("—");
    expect(formatValue(3)).toBe("3");
    expect(formatValue(0.123456)).toBe("0.123");
    expect(formatValue(1234.5678)).toBe("1230");
  });
});
