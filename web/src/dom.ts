/** Small DOM helpers: the page is built from `index.html` plus these, with no framework. */

/** The element with `data-testid="<id>"` under `root`; throws if index.html lacks it. */
export function byTestId<T extends HTMLElement = HTMLElement>(id: string, root: ParentNode = document): T {
  const el = root.querySelector<T>(`[data-testid="${id}"]`);
  if (!el) throw new Error(`index.html has no [data-testid="${id}"]`);
  return el;
}

type Child = Node | string | null | undefined | false;

/**
 * Creates an element. `attrs` are set as attributes (`testid` becomes `data-testid`); text
 * children become text nodes, never HTML, so message bodies cannot inject markup.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined) continue;
    el.setAttribute(name === 'testid' ? 'data-testid' : name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

/** "alice", "alice and bob", "alice, bob and carol". */
export function listNames(names: readonly string[]): string {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1] ?? ''}`;
}
