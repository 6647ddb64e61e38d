// The DOM helpers every part of the view uses.

/** A new `tag` element with `className` and, when given, `text` as its text content (never as HTML). */
export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Set `node`'s text to `text` when it differs: a write that changes nothing still makes the browser lay out again,
 * and the view redraws on every hover. */
export function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}
