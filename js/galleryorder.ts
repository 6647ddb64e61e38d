// Sorting and filtering a page of samples without a kernel (an exported gallery page), by the rules the kernel's
// index follows (vl_saliency_widget/gallery/index.py): missing values last whichever the direction, equal values in
// the dataset's order, text lower-cased and compared character by character, "contains" for text filters and
// [min, max] for ranges (never a missing value), every filter at once. Also the filters' small helpers the
// controls use.
import type { ColumnInfo, Filter, TokenReduction } from "./gallerymodel";

/** A column's values on the page's rows: numbers or text (null: missing); a per-token column once per token
 * reduction. */
export type ColumnValues =
  | (number | null)[]
  | (string | null)[]
  | Record<TokenReduction, (number | null)[]>;

export type Table = Record<string, ColumnValues>;

/** What the rows are ordered by. */
export interface Query {
  sort_by: string;
  descending: boolean;
  filters: Filter[];
  token: TokenReduction;
}

/** The values of `column` on the page's rows, per-token ones read through `token`. */
export function columnValues(
  table: Table,
  column: ColumnInfo,
  token: TokenReduction,
): (number | null)[] | (string | null)[] {
  const values = table[column.name];
  if (values === undefined) throw new Error(`no column ${column.name}`);
  return Array.isArray(values) ? values : values[token];
}

function present<T>(value: T | null | undefined): value is T {
  return (
    value !== null &&
    value !== undefined &&
    !(typeof value === "number" && Number.isNaN(value))
  );
}

/** Whether each of `count` rows passes every filter. */
export function keepRows(
  table: Table,
  columns: ColumnInfo[],
  filters: Filter[],
  token: TokenReduction,
  count: number,
): boolean[] {
  const kept = new Array<boolean>(count).fill(true);
  for (const filter of filters) {
    const column = columns.find((c) => c.name === filter.column);
    if (column === undefined) continue;
    const values = columnValues(table, column, token);
    for (let row = 0; row < count; row++) {
      const value = values[row];
      if (!present(value)) kept[row] = false;
      else if ("text" in filter)
        kept[row] &&= String(value)
          .toLowerCase()
          .includes(filter.text.toLowerCase());
      else {
        const number = value as number;
        if (filter.min !== null && number < filter.min) kept[row] = false;
        if (filter.max !== null && number > filter.max) kept[row] = false;
      }
    }
  }
  return kept;
}

/**
 * The page's rows (0 .. count-1) that `query` keeps, in the order it shows them, and beside them the sort column's
 * values when it holds numbers (null for text or the dataset's order).
 */
export function orderRows(
  table: Table,
  columns: ColumnInfo[],
  query: Query,
  count: number,
): { rows: number[]; values: (number | null)[] | null } {
  const kept = keepRows(table, columns, query.filters, query.token, count);
  const rows = [...Array(count).keys()].filter((row) => kept[row]);
  const column = columns.find((c) => c.name === query.sort_by);
  if (!query.sort_by || column === undefined) return { rows, values: null };
  const values = columnValues(table, column, query.token);
  const key = (row: number): number | string | null => {
    const value = values[row];
    if (!present(value)) return null;
    return column.kind === "text" ? String(value).toLowerCase() : value;
  };
  const direction = query.descending ? -1 : 1;
  const withValue = rows.filter((row) => key(row) !== null);
  const missing = rows.filter((row) => key(row) === null);
  withValue.sort((a, b) => {
    const x = key(a) as number | string;
    const y = key(b) as number | string;
    return (x < y ? -1 : x > y ? 1 : 0) * direction || a - b;
  });
  const ordered = [...withValue, ...missing];
  const numbers =
    column.kind === "number"
      ? ordered.map((row) => {
          const value = values[row];
          return present(value) ? (value as number) : null;
        })
      : null;
  return { rows: ordered, values: numbers };
}

/** The filter on `column`, if there is one. */
export function filterOn(
  filters: Filter[],
  column: string,
): Filter | undefined {
  return filters.find((f) => f.column === column);
}

/** `filters` with the filter on `filter.column` replaced by `filter` (added at the end when there was none), or
 * removed when `filter` is empty: no text, or neither bound. */
export function withFilter(filters: Filter[], filter: Filter): Filter[] {
  const empty =
    "text" in filter
      ? filter.text === ""
      : filter.min === null && filter.max === null;
  const at = filters.findIndex((f) => f.column === filter.column);
  if (empty) return filters.filter((f) => f.column !== filter.column);
  if (at < 0) return [...filters, filter];
  return filters.map((f, i) => (i === at ? filter : f));
}

/** A filter as its chip reads: "question contains “red”", "energy_attn from 0 to 0.5", "reliance ≥ 1". */
export function describeFilter(filter: Filter): string {
  if ("text" in filter) return `${filter.column} contains “${filter.text}”`;
  if (filter.min !== null && filter.max !== null)
    return `${filter.column} from ${filter.min} to ${filter.max}`;
  if (filter.min !== null) return `${filter.column} ≥ ${filter.min}`;
  return `${filter.column} ≤ ${filter.max}`;
}

/** A range bound typed in a box: a number, null for an empty box, undefined for text that is not a number. */
export function parseBound(text: string): number | null | undefined {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}

/** A value as a card shows it: "—" when missing, three significant digits otherwise (integers whole). */
export function formatValue(value: number | null | undefined): string {
  if (!present(value)) return "—";
  if (Number.isInteger(value)) return String(value);
  return Number(value.toPrecision(3)).toString();
}
