// DOM helpers: checked lookups of the page's elements, element building, and updates in place.

/** The element of `index.html` with this id; a missing one is a bug, said at once. */
export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no element #${id}`);
  return node as T;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** Replaces `container`'s children only when the new ones differ in markup: the notice and the
 * empty state are rendered again at every status tick, and a button that has the keyboard focus
 * must survive a tick that changes nothing. */
export function replaceIfChanged(container: HTMLElement, parts: Node[]): void {
  const markup = parts.map((p) => (p instanceof Element ? p.outerHTML : (p.textContent ?? ""))).join("");
  if (container.dataset.markup === markup && container.childNodes.length === parts.length) return;
  container.dataset.markup = markup;
  container.replaceChildren(...parts);
}

/** Sets a text only when it changes (no needless layout, no announcement). */
export function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}
